"""The figures of docs/capacity.md, drawn with matplotlib's Agg backend (no display)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np

from capacity import prices
from capacity.model import Operation, Profile, auth_total, cost, daily, month
from capacity.quotas import loads

MAU_RANGE = np.logspace(4, 7, 25)


def cost_curves(
    ops: dict[str, Operation], profile: Profile, log_line: float
) -> dict[str, list[float]]:
    m2m = prices.cognito_m2m(profile.machine_clients, daily(profile).machine_tokens * 30)
    curves: dict[str, list[float]] = {
        "this project (KMS signing)": [],
        "this project (Secrets Manager signing)": [],
        "Cognito Lite + M2M": [],
        "Cognito Essentials + M2M": [],
    }
    for mau in MAU_RANGE:
        m = month(profile.with_mau(float(mau)), ops, log_line)
        curves["this project (KMS signing)"].append(auth_total(cost(m)))
        curves["this project (Secrets Manager signing)"].append(
            auth_total(cost(m, signing="secretsmanager"))
        )
        curves["Cognito Lite + M2M"].append(prices.cognito_lite(float(mau)) + m2m)
        curves["Cognito Essentials + M2M"].append(prices.cognito_essentials(float(mau)) + m2m)
    return curves


def plot_cost(path: Path, ops: dict[str, Operation], profile: Profile, log_line: float) -> Path:
    fig, ax = plt.subplots(figsize=(8, 5), dpi=100)
    for label, values in cost_curves(ops, profile, log_line).items():
        ax.plot(MAU_RANGE, values, label=label, linestyle="--" if "Cognito" in label else "-")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("monthly active users")
    ax.set_ylabel("USD per month (us-east-1, list prices)")
    ax.set_title("Cost per month: this project vs Amazon Cognito")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_headroom(path: Path, ops: dict[str, Operation], profile: Profile) -> Path:
    series: dict[str, list[float]] = {}
    for mau in MAU_RANGE:
        for load in loads(profile.with_mau(float(mau)), ops).values():
            if load.quota.scales_with_mau:
                label = f"{load.quota.name} ({load.quota.kind})"
                series.setdefault(label, []).append(load.headroom)
    fig, ax = plt.subplots(figsize=(8, 5), dpi=100)
    for label, values in series.items():
        ax.plot(MAU_RANGE, values, label=label)
    ax.axhline(1.0, color="black", linewidth=1)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("monthly active users")
    ax.set_ylabel("headroom at the daily peak (limit / load)")
    ax.set_title("Quota headroom: below 1, the limit is met")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def write_all(
    directory: Path, ops: dict[str, Operation], profile: Profile, log_line: float
) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    return [
        plot_cost(directory / "capacity-cost.png", ops, profile, log_line),
        plot_headroom(directory / "capacity-headroom.png", ops, profile),
    ]

"""What the service costs and where it breaks, from 10 k to 10 M monthly active users.

One run measures, then prices:

1. each operation's handler time, from the existing benchmarks run now, each in a child
   process of its own (``bench.login``: a successful login with AWS replayed; ``bench.refresh``
   and ``bench.token``: the handler on moto; ``bench.authorizer``: a new token and a cached
   one, stateless and session-checked), each printed next to the floor its benchmark
   measured in the same run;
2. each operation's AWS requests, counted on the clients' wire (``infra.devkit.wire``)
   while the real handlers run against moto, and the bytes each writes to its log;
   the JWKS and logout handlers, which no benchmark times, are timed here
   (``bench.interleaved``);
3. the month's bill at each scale for the usage profile (flags below), next to Amazon
   Cognito's published prices (Lite, Essentials, machine-to-machine) and Auth0's; the
   quotas' peak loads and headroom, and the first limit met; a simulated day (second by
   second) whose totals and peaks are printed beside the closed form's.

Prices: capacity/prices.py (date, Region, sources). ``--plots DIR`` writes the PNGs of
docs/capacity.md.

    .venv/bin/python -m bench.cost [--size small|full] [--plots docs/img] [profile flags]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import re
import statistics
import subprocess
import sys
from collections import Counter
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SCALES = (10_000, 100_000, 1_000_000, 10_000_000)

# (iterations or rounds, warm-up or tokens per round) per benchmark, and how many calls of
# the handlers timed here.
SIZES: dict[str, dict[str, tuple[int, int]]] = {
    "small": {"login": (2, 1), "refresh": (5, 1), "token": (3, 1), "authorizer": (1, 5)},
    "full": {"login": (20, 3), "refresh": (200, 20), "token": (200, 20), "authorizer": (5, 100)},
}
OWN_CALLS = {"small": 3, "full": 100}
PASSWORD = "bench-password-long-enough"


# ---------------------------------------------------------------- children (measurement)
def _child_login(size: str) -> dict[str, float]:
    from bench import login

    tries, warmup = SIZES[size]["login"]
    samples, _ = login.run(tries, warmup)
    return {k: statistics.median(samples[k]) for k in (login.REPLAYED, login.VERIFY)}


def _child_refresh(size: str) -> dict[str, float]:
    from bench import refresh

    iterations, warmup = SIZES[size]["refresh"]
    samples = refresh.run(iterations, warmup)
    return {k: statistics.median(samples[k]) for k in (refresh.HANDLER, refresh.FLOOR)}


def _child_token(size: str) -> dict[str, float]:
    from bench import token

    iterations, warmup = SIZES[size]["token"]
    samples, _, _ = token.run(iterations, warmup)
    return {k: statistics.median(samples[k]) for k in (token.HANDLER, token.BASELINE)}


def _child_authorizer(size: str) -> dict[str, float]:
    from bench import authorizer

    if str(authorizer.LAYER) not in sys.path:
        sys.path.insert(0, str(authorizer.LAYER))
    rounds, per_round = SIZES[size]["authorizer"]
    warm = authorizer.warm(rounds, per_round)["ES256"]
    session = authorizer.warm_session(rounds, per_round)
    # Microseconds per call -> milliseconds.
    return {
        "new": warm["handler_http"] / 1000,
        "hit": warm["hit_http"] / 1000,
        "floor": warm["floor"] / 1000,
        "session_miss": session["session_miss"] / 1000,
        "session_hit": session["session_hit"] / 1000,
        "bare_get_item": session["bare_get_item"] / 1000,
    }


def _child_calls(size: str) -> dict[str, Any]:
    """The real handlers against moto: every AWS request they send (with the items of each
    transaction and whether a read is consistent), the bytes they log, and the times of
    the handlers no benchmark covers."""
    from infra.devkit import environment, moto

    environment.host_functions(
        {
            **moto.table_variables(),
            "POWERTOOLS_METRICS_NAMESPACE": "Bench",
            "CLIENT_SECRET_PEPPER": "bench-pepper-" + "x" * 40,
        }
    )
    from authcore import aws
    from authcore.clients.dynamo import DynamoClientStore
    from authcore.clients.model import Client
    from bench import interleaved
    from bench.token import token_event
    from functions.login import app as login_app
    from functions.logout import app as logout_app
    from functions.oauth import app as oauth_app
    from functions.refresh import app as refresh_app
    from functions.wellknown import app as wellknown_app
    from infra.admin import Admin
    from infra.devkit.context import LambdaContext
    from infra.devkit.events import load_event, with_body
    from infra.devkit.wire import on_exchange

    context = LambdaContext("bench-cost", 256)
    seen: list[dict[str, Any]] = []

    recording = [False]

    def record(real: Any, operation: str, path: str, body: bytes, *rest: Any) -> Any:
        if not recording[0]:
            return real(operation, path, body, *rest)
        params = json.loads(body) if body else {}
        seen.append(
            {
                "op": operation,
                "table": params.get("TableName", ""),
                "consistent": bool(params.get("ConsistentRead")),
                "items": [
                    (kind, item.get("TableName", ""))
                    for entry in params.get("TransactItems", [])
                    for kind, item in entry.items()
                ],
            }
        )
        return real(operation, path, body, *rest)

    out: dict[str, Any] = {}
    with moto.mocked() as mocked:
        Admin.connect("users", "sessions", mocked.dynamodb).create_user("bench", PASSWORD, "p")
        import time

        client, secret = Client("bench-job", frozenset({"reports:read"})).with_new_secret(
            b"bench-pepper-" + b"x" * 40, time.time()
        )
        DynamoClientStore(mocked.dynamodb, "clients").create(client)
        oauth_event = token_event("bench-job", secret)

        def login() -> dict[str, Any]:
            body = {"username": "bench", "password": PASSWORD, "delivery": "body"}
            answer = login_app.lambda_handler(with_body("login.json", body), context)
            assert answer["statusCode"] == 200, answer
            parsed: dict[str, Any] = json.loads(answer["body"])
            return parsed

        chain = [login()["refresh_token"]]

        def refresh() -> None:
            event = with_body("refresh.json", {"refresh_token": chain[0]})
            answer = refresh_app.lambda_handler(event, context)
            assert answer["statusCode"] == 200, answer
            chain[0] = json.loads(answer["body"])["refresh_token"]

        pending = [login()["refresh_token"] for _ in range(3 * OWN_CALLS[size] + 20)]

        def logout() -> None:
            event = with_body("logout.json", {"refresh_token": pending.pop()})
            assert logout_app.lambda_handler(event, context)["statusCode"] == 204

        def token() -> None:
            assert oauth_app.lambda_handler(dict(oauth_event), context)["statusCode"] == 200

        def jwks() -> None:
            event = load_event("wellknown_jwks.json")
            assert wellknown_app.lambda_handler(event, context)["statusCode"] == 200

        for operation in (login, refresh, logout, token, jwks):
            operation()  # warm: clients built, key caches filled
        for c in (aws.dynamodb(), aws.kms()):
            on_exchange(c, record)
        recording[0] = True
        # Counted in steady state (caches warm), 10 calls each, log bytes captured.
        for name, operation in (
            ("login", login),
            ("refresh", refresh),
            ("logout", logout),
            ("token", token),
            ("jwks", jwks),
        ):
            seen.clear()
            logged = io.StringIO()
            with contextlib.redirect_stdout(logged), contextlib.redirect_stderr(logged):
                for _ in range(10):
                    operation()
            out[name] = {"requests": list(seen), "per": 10, "log_bytes": len(logged.getvalue())}
        recording[0] = False
        n = OWN_CALLS[size]
        with contextlib.redirect_stdout(io.StringIO()):
            times = interleaved({"logout": logout, "jwks": jwks}, n, 2)
        out["times"] = {name: statistics.median(values) for name, values in times.items()}
    return out


CHILDREN = {
    "login": _child_login,
    "refresh": _child_refresh,
    "token": _child_token,
    "authorizer": _child_authorizer,
    "calls": _child_calls,
}


def _run_child(name: str, size: str) -> Any:
    """Each benchmark in a process of its own: they set the process's environment and
    module caches as a container would, and must not see each other's."""
    result = subprocess.run(
        [sys.executable, "-m", "bench.cost", "--child", name, "--size", size],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"bench.cost child {name} failed:\n{result.stdout}{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- from counts to units
def units(requests: list[dict[str, Any]], per: int) -> tuple[dict[str, float], float, float]:
    """Requests per call by service operation, and DynamoDB's read and write request units
    per call (items under 1 KB, as measured: ``bench.cost`` prints the largest): a
    consistent read 1 RRU, an eventually consistent one 0.5, a transactional item 2; a
    write 1 WRU, a transactional item 2; and a new session's entry in the by_user index
    (KEYS_ONLY, written with the item) 1 more."""
    calls: Counter[str] = Counter()
    rru = wru = 0.0
    for r in requests:
        op, table = r["op"], r["table"]
        service = "kms" if op in ("Sign", "GetPublicKey") else "dynamodb"
        calls[f"{service}.{op}"] += 1
        if op in ("GetItem", "Query"):
            rru += 1.0 if r["consistent"] else 0.5
        elif op == "TransactGetItems":
            rru += 2.0 * len(r["items"])
        elif op in ("PutItem", "UpdateItem", "DeleteItem"):
            wru += 1.0 + (1.0 if op == "PutItem" and table == "sessions" else 0.0)
        elif op == "TransactWriteItems":
            wru += 2.0 * len(r["items"])
            wru += sum(1.0 for kind, t in r["items"] if kind == "Put" and t == "sessions")
    return {k: v / per for k, v in calls.items()}, rru / per, wru / per


def access_log_bytes() -> int:
    """One line of template.yaml's HTTP API access log, filled with typical values."""
    from infra import template

    api = template.resources("AWS::Serverless::HttpApi")["HttpApi"]
    line: str = api["Properties"]["AccessLogSettings"]["Format"]
    typical = {
        "requestId": "Jq2bOgvHoAMEMFw=",
        "identity.sourceIp": "203.0.113.10",
        "requestTime": "28/Nov/2026:10:00:00 +0000",
        "routeKey": "POST /auth/refresh",
        "status": "200",
        "protocol": "HTTP/1.1",
        "responseLength": "1024",
        "responseLatency": "42",
        "integrationLatency": "40",
        "authorizer.error": "-",
        "integrationErrorMessage": "-",
    }
    filled = re.sub(r"\$context\.([A-Za-z.]+)", lambda m: typical.get(m.group(1), "-"), line)
    return len(filled.encode()) + 1


def operations(measured: dict[str, Any]) -> dict[str, Any]:
    """The model's operations, every figure from this run's measurements."""
    from capacity.model import Operation

    memory = _memory()
    calls = measured["calls"]
    login, refresh, token, auth = (
        measured["login"],
        measured["refresh"],
        measured["token"],
        measured["authorizer"],
    )
    from bench import login as login_bench
    from bench import refresh as refresh_bench
    from bench import token as token_bench

    def counted(name: str) -> dict[str, Any]:
        c, rru, wru = units(calls[name]["requests"], calls[name]["per"])
        return {"calls": c, "rru": rru, "wru": wru, "log_bytes": calls[name]["log_bytes"] / 10}

    return {
        "login": Operation(
            "login",
            "LoginFunction",
            memory["LoginFunction"],
            login[login_bench.REPLAYED],
            **counted("login"),
        ),
        "refresh": Operation(
            "refresh",
            "RefreshFunction",
            memory["RefreshFunction"],
            refresh[refresh_bench.HANDLER],
            **counted("refresh"),
        ),
        "logout": Operation(
            "logout",
            "LogoutFunction",
            memory["LogoutFunction"],
            calls["times"]["logout"],
            **counted("logout"),
        ),
        "token": Operation(
            "token",
            "OAuthFunction",
            memory["OAuthFunction"],
            token[token_bench.HANDLER],
            **counted("token"),
        ),
        "jwks": Operation(
            "jwks",
            "WellKnownFunction",
            memory["WellKnownFunction"],
            calls["times"]["jwks"],
            **counted("jwks"),
        ),
        "authorizer_new": Operation(
            "authorizer, new token",
            "AuthorizerFunction",
            memory["AuthorizerFunction"],
            auth["new"],
            api_request=False,
        ),
        "authorizer_repeated": Operation(
            "authorizer, repeated token",
            "AuthorizerFunction",
            memory["AuthorizerFunction"],
            auth["hit"],
            api_request=False,
        ),
        "session_check_read": Operation(
            "session check, read",
            "SessionAuthorizerFunction",
            memory["SessionAuthorizerFunction"],
            auth["session_miss"],
            calls={"dynamodb.GetItem": 1.0},
            rru=1.0,
            api_request=False,
        ),
        "session_check_cached": Operation(
            "session check, cached",
            "SessionAuthorizerFunction",
            memory["SessionAuthorizerFunction"],
            auth["session_hit"],
            api_request=False,
        ),
        # Not measured: no benchmark runs the mail sender or the feed's publisher. Their
        # handler time is the refresh handler's as a stand-in (same size of work: one
        # parse, a few AWS calls); their requests are what their code sends (one SES
        # SendEmail; the publisher reads and writes the snapshot and the delta).
        "mail": Operation(
            "account mail (not timed)",
            "AccountMailFunction",
            memory["AccountMailFunction"],
            refresh[refresh_bench.HANDLER],
            calls={"ses.SendEmail": 1.0},
        ),
        "publish": Operation(
            "feed publish (not timed)",
            "RevocationFeedFunction",
            memory["RevocationFeedFunction"],
            refresh[refresh_bench.HANDLER],
            calls={"s3.GetObject": 2.0, "s3.PutObject": 2.0},
            api_request=False,
        ),
    }


def _memory() -> dict[str, int]:
    """MemorySize per function: template.yaml's own, else the Globals'."""
    from infra import template

    document = template.load()
    default = int(document["Globals"]["Function"]["MemorySize"])
    return {
        name: int(resource["Properties"].get("MemorySize", default))
        for name, resource in template.resources("AWS::Serverless::Function").items()
    }


# ---------------------------------------------------------------- report
def _money(value: float) -> str:
    if value >= 100:
        return f"${value:,.0f}"
    return f"${value:,.2f}"


def _scale(mau: float) -> str:
    return f"{mau / 1e6:.3g} M" if mau >= 1e6 else f"{mau / 1e3:.3g} k"


def report(measured: dict[str, Any], profile: Any, simulate_up_to: float) -> str:
    from capacity import prices
    from capacity.model import auth_total, cost, daily, month
    from capacity.quotas import first_limit, loads
    from capacity.simulate import simulate

    ops = operations(measured)
    log_line = access_log_bytes()
    lines: list[str] = []
    say = lines.append
    login_b, refresh_b, token_b, auth = (
        measured["login"],
        measured["refresh"],
        measured["token"],
        measured["authorizer"],
    )
    from bench import login as login_bench
    from bench import refresh as refresh_bench
    from bench import token as token_bench

    say("## Operations (this run)")
    say("")
    say(
        "| operation | function | MB | handler ms | billed ms | AWS requests per call "
        "| RRU | WRU | log bytes |"
    )
    say("|---|---|---|---|---|---|---|---|---|")
    for op in ops.values():
        requests = ", ".join(f"{k} {v:g}" for k, v in sorted(op.calls.items())) or "none"
        say(
            f"| {op.name} | {op.function} | {op.memory_mb} | {op.cpu_ms:.3f} | "
            f"{op.billed_ms()} | {requests} | {op.rru:g} | {op.wru:g} | {op.log_bytes:.0f} |"
        )
    say("")
    say("Each handler time next to the floor its own benchmark measured in this run:")
    ratios = (
        (
            "login (AWS replayed) / one argon2id verification",
            login_b[login_bench.REPLAYED],
            login_b[login_bench.VERIFY],
        ),
        (
            "refresh handler / (1 UpdateItem + 1 KMS Sign on moto)",
            refresh_b[refresh_bench.HANDLER],
            refresh_b[refresh_bench.FLOOR],
        ),
        (
            "token handler / (1 GetItem + 1 signature)",
            token_b[token_bench.HANDLER],
            token_b[token_bench.BASELINE],
        ),
        ("authorizer, new token / raw ES256 verify", auth["new"], auth["floor"]),
        ("authorizer, repeated token / raw ES256 verify", auth["hit"], auth["floor"]),
        ("session check read / bare GetItem", auth["session_miss"], auth["bare_get_item"]),
    )
    for text, value, floor in ratios:
        say(f"- {text}: {value:.3f} ms / {floor:.3f} ms = {value / floor:.2f}x")
    say(f"- one access-log line (template's format, typical values): {log_line} bytes")
    say("")

    say("## Cost per month")
    say("")
    header = "| | " + " | ".join(_scale(m) for m in SCALES) + " |"
    say(header)
    say("|---" * (len(SCALES) + 1) + "|")
    bills = {mau: cost(month(profile.with_mau(mau), ops, log_line)) for mau in SCALES}
    sm_bills = {
        mau: cost(month(profile.with_mau(mau), ops, log_line), signing="secretsmanager")
        for mau in SCALES
    }
    for line in next(iter(bills.values())):
        say(f"| {line} | " + " | ".join(_money(bills[m][line]) for m in SCALES) + " |")
    ours = {m: auth_total(bills[m]) for m in SCALES}
    say("| **this project (KMS signing)** | " + " | ".join(_money(ours[m]) for m in SCALES) + " |")
    say(
        "| this project (Secrets Manager signing) | "
        + " | ".join(_money(auth_total(sm_bills[m])) for m in SCALES)
        + " |"
    )
    m2m_tokens = daily(profile).machine_tokens * 30
    m2m = prices.cognito_m2m(profile.machine_clients, m2m_tokens)
    lite = {m: prices.cognito_lite(m) + m2m for m in SCALES}
    essentials = {m: prices.cognito_essentials(m) + m2m for m in SCALES}
    say("| Cognito Lite + M2M | " + " | ".join(_money(lite[m]) for m in SCALES) + " |")
    say("| Cognito Essentials + M2M | " + " | ".join(_money(essentials[m]) for m in SCALES) + " |")
    say("| Auth0 (B2C) | " + " | ".join(prices.auth0(m) for m in SCALES) + " |")
    say(
        "| this / Cognito Essentials | "
        + " | ".join(f"{ours[m] / essentials[m]:.3f}x" for m in SCALES)
        + " |"
    )
    say("| this / Cognito Lite | " + " | ".join(f"{ours[m] / lite[m]:.3f}x" for m in SCALES) + " |")
    say("")
    if profile.tracing != "Active":
        active = {
            mau: cost(month(replace(profile.with_mau(mau), tracing="Active"), ops, log_line))
            for mau in SCALES
        }
        say(
            f"X-Ray traces are $0 with --tracing {profile.tracing}; with Tracing=Active they "
            "would add "
            + ", ".join(f"{_money(active[m]['X-Ray traces'])} ({_scale(m)})" for m in SCALES)
            + " to both totals."
        )
        say("")
    say(
        f"Cognito M2M in both rows: {profile.machine_clients} clients, {m2m_tokens:,.0f} tokens "
        f"a month = {_money(m2m)}. API Gateway for the protected routes is shown but left out "
        "of the totals: any identity provider's users pay it."
    )
    say("")

    say("## Capacity: peak load, headroom and the first limit met")
    say("")
    say("| quota | limit | " + " | ".join(_scale(m) for m in SCALES) + " |")
    say("|---|---" + "|---" * len(SCALES) + "|")
    found = {mau: loads(profile.with_mau(mau), ops) for mau in SCALES}
    for key, load in found[SCALES[0]].items():
        q = load.quota
        cells = " | ".join(
            f"{found[m][key].peak:,.1f} ({found[m][key].headroom:,.1f}x)" for m in SCALES
        )
        say(f"| {q.name} ({q.kind}) | {q.limit:,.0f} {q.unit} | {cells} |")
    say("")
    for mau in SCALES:
        for kind in ("configured", "AWS quota"):
            first = first_limit(found[mau], kind)
            if first.quota.scales_with_mau:
                at = f"met at about {_scale(mau * first.headroom)} MAU"
            else:
                at = "does not grow with MAU"
            state = "EXCEEDED" if first.headroom < 1 else f"{first.headroom:.1f}x headroom"
            say(
                f"- {_scale(mau)} MAU, first {kind}: {first.quota.name}, peak "
                f"{first.peak:,.1f} {first.quota.unit} ({state}; {at}). "
                f"Remedy: {first.quota.remedy}."
            )
    say("")

    say("## The simulated day against the closed form")
    say("")
    say(
        "| MAU | logins/day sim / model | refreshes/day sim / model | API requests/day "
        "sim / model | KMS Sign peak/s: sim 1 s, sim 5 min, model | attack writes/s on one "
        "account (sim max) |"
    )
    say("|---|---|---|---|---|---|")
    for mau in SCALES:
        if mau > simulate_up_to:
            continue
        p = profile.with_mau(mau)
        d = daily(p)
        day = simulate(p)
        model_peak = found[mau]["kms"].peak
        say(
            f"| {_scale(mau)} | {day.total('logins'):,.0f} / {d.logins:,.0f} | "
            f"{day.total('refreshes'):,.0f} / {d.refreshes:,.0f} | "
            f"{day.total('api_requests'):,.0f} / {d.api_requests:,.0f} | "
            f"{day.peak(day.signs()):,.0f}, {day.peak(day.signs(), 300):,.1f}, {model_peak:,.1f} | "
            f"{day.peak(day.attack_accepted):.0f} |"
        )
    return "\n".join(lines)


def add_profile_flags(parser: argparse.ArgumentParser) -> None:
    from capacity.model import TRACING_MODES, Profile

    for f in fields(Profile):
        if f.name == "mau":
            continue
        flag = "--" + f.name.replace("_", "-")
        if f.name == "tracing":
            parser.add_argument(
                flag,
                choices=TRACING_MODES,
                default=f.default,
                help=f"template.yaml's Tracing parameter; default {f.default} (the template's): "
                "X-Ray is priced only with Active",
            )
            continue
        parser.add_argument(
            flag, type=type(f.default), default=f.default, help=f"default {f.default}"
        )


def profile_from(args: argparse.Namespace) -> Any:
    from capacity.model import Profile

    values = {f.name: getattr(args, f.name) for f in fields(Profile) if f.name != "mau"}
    return replace(Profile(), **values)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.cost",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--size", choices=sorted(SIZES), default="full")
    parser.add_argument("--child", choices=sorted(CHILDREN), help=argparse.SUPPRESS)
    parser.add_argument("--plots", type=Path, help="write the PNGs of docs/capacity.md here")
    parser.add_argument(
        "--simulate-up-to", type=float, default=10_000_000, help="largest MAU simulated"
    )
    add_profile_flags(parser)
    args = parser.parse_args(argv)
    if args.child:
        with contextlib.redirect_stdout(io.StringIO()):
            result = CHILDREN[args.child](args.size)
        print(json.dumps(result))
        return 0
    measured = {name: _run_child(name, args.size) for name in CHILDREN}
    profile = profile_from(args)
    print(
        f"bench.cost: measured with --size {args.size}; prices of capacity/prices.py "
        f"({_region_date()}); profile: {profile}"
    )
    print(report(measured, profile, args.simulate_up_to))
    if args.plots:
        from capacity import plots

        written = plots.write_all(args.plots, operations(measured), profile, access_log_bytes())
        for path in written:
            print(f"wrote {path}")
    return 0


def _region_date() -> str:
    from capacity import prices

    return f"{prices.REGION}, looked up {prices.LOOKED_UP}"


if __name__ == "__main__":
    raise SystemExit(main())

"""Benchmarks: each prints its figures and ratios against a baseline measured in the
same run (``python -m bench.<name> --help``)."""

from __future__ import annotations

import gc
import random
import re
import resource
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def interleaved(
    calls: Mapping[str, Callable[[], object]], iterations: int, warmup: int
) -> dict[str, list[float]]:
    """Milliseconds per call: one call of each per round, so that a burst of background
    load weighs on every row alike; each round in a new order (the same orders every
    run), since the call after the collector runs with cold caches and pays for it
    (about 2 ms against in-process moto); no garbage collection inside a round, as
    timeit does."""
    samples: dict[str, list[float]] = {name: [] for name in calls}
    order = list(calls.items())
    shuffler = random.Random(0)
    for round_number in range(warmup + iterations):
        shuffler.shuffle(order)
        gc.disable()
        for name, call in order:
            start = time.perf_counter()
            call()
            elapsed = (time.perf_counter() - start) * 1000
            if round_number >= warmup:
                samples[name].append(elapsed)
        gc.enable()
        gc.collect()
    return samples


def row(
    name: str, samples: list[float], reference: float, *, width: int = 28, digits: int = 3
) -> str:
    """One table row: median, p95 and mean of ``samples`` (ms), and median / ``reference``."""
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    median = statistics.median(samples)
    mean = statistics.fmean(samples)
    figures = "".join(f"{value:>9.{digits}f}" for value in (median, p95, mean))
    return f"{name:<{width}}{figures}{median / reference:>8.{digits}f}x"


def round_trips(client: Any, call: Callable[[], object], times: int = 10) -> float:
    """DynamoDB requests per ``call``, counted on the wire (outside any timing)."""
    from infra.devkit.wire import count_requests

    sent = count_requests(client)
    for _ in range(times):
        call()
    return len(sent) / times


@dataclass(frozen=True)
class Process:
    """A child process run to its end: wall ms as its parent saw it, to its exit and to its
    first line on stdout (None if it printed none), CPU ms (user + system) of the child
    alone, what it printed, its exit status."""

    wall_ms: float
    cpu_ms: float
    stdout: str
    stderr: str
    returncode: int
    first_line_ms: float | None = None


def fresh_process(
    argv: list[str], env: Mapping[str, str], cwd: Path, stdin: str | None = None
) -> Process:
    """Run ``argv`` once, timed from outside: a cold start with the interpreter's own
    start included, as the bare ``python -c pass`` it is compared with, to the child's
    first line on stdout (a cold start's report, written the moment the answer is ready)
    and to its exit. CPU time from ``RUSAGE_CHILDREN`` (only one child at a time, so the
    difference is its)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    # stderr to a file, not a pipe: a child that logs a lot must not block on a pipe the
    # parent only reads once stdout is done.
    with tempfile.TemporaryFile("w+") as errors:
        start = time.perf_counter()
        child = subprocess.Popen(
            argv,
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
        )
        assert child.stdin is not None
        assert child.stdout is not None
        child.stdin.write(stdin or "")
        child.stdin.close()
        first = child.stdout.readline()
        first_line_ms = (time.perf_counter() - start) * 1000 if first else None
        stdout = first + child.stdout.read()
        returncode = child.wait()
        wall = (time.perf_counter() - start) * 1000
        errors.seek(0)
        stderr = errors.read()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000
    return Process(wall, cpu, stdout, stderr, returncode, first_line_ms)


_IMPORTTIME = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


def import_times(stderr: str) -> list[tuple[str, int, int, int]]:
    """``python -X importtime``'s lines: (module, depth, self µs, cumulative µs), in the
    order printed (anything else on stderr, a log line, is skipped)."""
    rows = []
    for line in stderr.splitlines():
        match = _IMPORTTIME.match(line)
        if match:
            own, cumulative, indent, name = match.groups()
            rows.append((name, len(indent) // 2, int(own), int(cumulative)))
    return rows

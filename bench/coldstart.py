"""What a cold start costs, function by function (issue #20).

Every function of template.yaml is started in fresh processes as Lambda starts it (its
folder and the layer on PYTHONPATH, the template's variables resolved against the local
stack, tracing off; ``infra.devkit.cold_start``), imports its handler module and answers a
first event that must succeed: its sample event of events/ made real (a real login, a valid
token, a registered client...), whose AWS calls are real HTTP requests to the local stack's
moto server. The baseline, measured in the same run, is ``python -c pass``.

Rounds are interleaved: each round starts one process of every function and one bare
interpreter, in a new order (the same orders every run), so that a burst of background
load weighs on every row alike. Figures are medians over the rounds, in wall time and CPU
time (user + system, what a busy machine inflates least):

- import: the handler module's import, timed inside the process;
- first event: the handler's first call, timed inside the process;
- over bare: the process from its start to its answer (interpreter start, import, first
  event) as its parent saw it, less the bare interpreter's whole run. Not the child's exit:
  Lambda freezes a process once it has answered and never runs the interpreter's teardown
  on anyone's request path, and that teardown can be long (up to ~140 ms for a function
  that loaded botocore, every module and object freed one by one, before issue #20 took it
  off every function). The bare interpreter's
  own exit (a millisecond or two) stays in the baseline, which favours nobody but it.

Top imports: ``python -X importtime`` of separate processes (import and first event, since
a first event imports too), the modules with the largest self time, median over runs.

Floor: ``python -c`` importing what any authorizer that verifies ES256 tokens with keys
read over HTTPS must import (``FLOOR``), over bare, in the same rounds: the part of the
stateless authorizer's cold start that is not its own.

Lambda's runtime start: ``python -c`` importing what awslambdaric's bootstrap has imported
before it imports a handler (``RUNTIME``: ``logging`` above all), over bare, in the same
rounds. A line after the verdicts gives the stateless authorizer over it: what it adds to a
cold start on Lambda, where those modules are loaded already. Not a verdict: the issue's
targets are over a bare interpreter.

Targets (issue #20): every function at most 200 ms over bare; the stateless authorizer at
most 60 ms over bare; the session-checked authorizer at most 60 ms over the stateless one.

    .venv/bin/python -m bench.coldstart [--functions A,B] [--processes N]
        [--importtime-runs N] [--json PATH] [--compare BEFORE.json [AFTER.json]]
        [--layer-bytecode shipped|none|both] [--snapstart] [--against TREE]

``--compare BEFORE.json`` runs, then prints the run next to BEFORE; with AFTER.json as well
it runs nothing and prints the two files side by side.

``--against TREE`` runs another checkout's functions and layer (``git worktree add TREE
COMMIT``) in the same rounds, from the same events and variables, and prints this tree
against it: the one before-and-after this machine's drift does not spoil.

``--layer-bytecode`` chooses what the layer holds. ``shipped`` (the default) is what
``layers/common/Makefile`` builds: the bytecode of authcore and of its dependencies. ``none``
is what SAM's python3.12 builder shipped before it: sources only, on a read-only file system,
so each cold start compiled every module of the layer it imported. The runtime's standard
library keeps its bytecode in both (Lambda's image ships it), and the handler module ``app``
is compiled in both (the functions' folders ship none). Modelled with Python's own switches:
``PYTHONDONTWRITEBYTECODE``, and for ``none`` a ``PYTHONPYCACHEPREFIX`` that holds the
standard library's bytecode only (compiled once, under .cache/). ``both`` runs the two in the
same rounds, reports ``shipped`` and prints the two side by side.

After the report: the CPU one TLS client context costs (the CA bundle loaded), which the table
never holds (its endpoints are plain HTTP) and which a container pays once.

``--snapstart`` adds an estimate of what Lambda SnapStart (template parameter ``SnapStart``)
would change, from the same measurements: the part of each cold start done at init (the
interpreter's start beyond the bare one, the imports, module-level work), which a restored
container finds done, and the part that remains, the first event (connections,
credentials, the first key read). The restore itself is not measurable off AWS.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import sysconfig
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bench import fresh_process, import_times
from capacity.model import FULL_VCPU_MB
from infra import template
from infra.devkit.cold_start import ColdStartWorld, world
from infra.devkit.environment import ROOT

BARE = "python -c pass"
# What any authorizer that verifies ES256 tokens with keys read over HTTPS must import
# (the key read is its first event's): cryptography's EC module, TLS, json. Measured like
# bare, in the same rounds, to show how much of the stateless authorizer's cold start is
# its own. Not http.client: authcore.transport showed an HTTPS read needs none of it.
FLOOR = "import cryptography.hazmat.primitives.asymmetric.ec, ssl, json"
# What Lambda's runtime interface client (awslambdaric's bootstrap) has imported before it
# imports a handler: a function that imports them too pays nothing for them on Lambda.
RUNTIME = "import importlib, json, logging, traceback"
# Reference processes, measured in every round beside the functions: code, figures' prefix.
REFERENCES = {BARE: ("pass", ""), FLOOR: (FLOOR, "floor_"), RUNTIME: (RUNTIME, "runtime_")}
TARGET_OVER_BARE_MS = 200.0
TARGET_AUTHORIZER_MS = 60.0
TARGET_SESSION_OVER_STATELESS_MS = 60.0
STATELESS = "AuthorizerFunction"
SESSION = "SessionAuthorizerFunction"
TOP_IMPORTS = 3
FIGURES = ("import_ms", "import_cpu_ms", "first_event_ms", "first_event_cpu_ms")
LAYER_BYTECODE = ("shipped", "none")
# The mode of --against's tree.
AGAINST = "against"
STDLIB_BYTECODE = ROOT / ".cache" / "coldstart-stdlib-bytecode"
# What Lambda's image does not hold of a development interpreter's library.
_NOT_RUNTIME = re.compile(r"[/\\](site-packages|test|tests|idlelib|tkinter|turtledemo)[/\\]")


def bytecode_environment(layer_bytecode: str, root: Path = ROOT) -> dict[str, str]:
    """The variables every process of the run gets, so that what it compiles at its start
    is what a Lambda cold start compiles (see the module's docstring); ``root``: the tree
    whose functions and layer run."""
    # Lambda's file system is read-only: nothing compiled at a cold start is kept.
    env = {"PYTHONDONTWRITEBYTECODE": "1"}
    # The handler modules: compiled at every cold start, with or without the layer's.
    for cache in (root / "functions").glob("*/__pycache__"):
        shutil.rmtree(cache, ignore_errors=True)  # another process may be writing there
    if layer_bytecode == "shipped":
        compileall.compile_dir(root / "layers" / "common", quiet=1, workers=0)
        return env
    prefix = STDLIB_BYTECODE / platform.python_version()
    done = prefix / "complete"
    if not done.exists():
        stdlib = sysconfig.get_paths()["stdlib"]
        code = (
            "import compileall, re, sys; "
            "compileall.compile_dir(sys.argv[1], quiet=1, workers=0, rx=re.compile(sys.argv[2]))"
        )
        # Its exit status is not checked: a few of the library's data files do not compile
        # (lib2to3's test grammars...), and nothing imports them.
        subprocess.run(
            [sys.executable, "-c", code, stdlib, _NOT_RUNTIME.pattern],
            env={**os.environ, "PYTHONPYCACHEPREFIX": str(prefix)},
            check=False,
        )
        done.touch()
    return {**env, "PYTHONPYCACHEPREFIX": str(prefix)}


TLS_CONTEXT = (
    "import ssl, time; t = time.process_time(); ssl.create_default_context(); "
    "print((time.process_time() - t) * 1000)"
)


def tls_context_ms(processes: int) -> float:
    """CPU ms of making one TLS client context (the CA bundle loaded and parsed), median of
    fresh processes: what each new connection cost before ``transport.tls_context`` made
    one per container. The endpoints here are plain HTTP, so the table holds none."""
    times = []
    for _ in range(processes):
        done = subprocess.run(
            [sys.executable, "-c", TLS_CONTEXT], capture_output=True, text=True, check=True
        )
        times.append(float(done.stdout))
    return statistics.median(times)


Samples = tuple[dict[str, list[float]], dict[str, dict[str, list[float]]]]


def measure(
    cold: ColdStartWorld,
    functions: Sequence[str],
    processes: int,
    modes: Mapping[str, Mapping[str, str]],
    roots: Mapping[str, Path] | None = None,
) -> dict[str, Samples]:
    """For each mode (its variables given to every process of it, and the tree its functions
    run from, ``roots[mode]``, this one by default): (bare: wall and CPU samples; function ->
    figure -> samples). Rounds interleave every process of every mode, so that the machine's
    drift weighs on each alike."""
    roots = roots or {}
    python = sys.executable
    runs: dict[str, Samples] = {
        mode: (
            {
                f"{prefix}{key}": []
                for _, prefix in REFERENCES.values()
                for key in ("wall_ms", "cpu_ms")
            },
            {name: {key: [] for key in (*FIGURES, "wall_ms", "cpu_ms")} for name in functions},
        )
        for mode in modes
    }
    order = [(mode, name) for mode in modes for name in (*REFERENCES, *functions)]
    shuffler = random.Random(0)
    for _ in range(processes):
        shuffler.shuffle(order)
        for mode, name in order:
            bytecode = modes[mode]
            bare, samples = runs[mode]
            if name in REFERENCES:
                code, prefix = REFERENCES[name]
                env = {"PATH": os.environ.get("PATH", ""), **bytecode}
                done = fresh_process([python, "-c", code], env, ROOT)
                assert done.returncode == 0, done.stderr
                bare[f"{prefix}wall_ms"].append(done.wall_ms)
                bare[f"{prefix}cpu_ms"].append(done.cpu_ms)
                continue
            start = cold.start(name, python)  # its event made here, untimed
            env, cwd = dict(start.env), start.cwd
            if mode in roots:  # the same function and event, from another tree
                env = {key: _moved(value, roots[mode]) for key, value in env.items()}
                cwd = Path(_moved(str(cwd), roots[mode]))
            done = fresh_process(start.argv, {**env, **bytecode}, cwd, start.stdin)
            figures = start.result(done.returncode, done.stdout, done.stderr)
            for key in FIGURES:
                samples[name][key].append(figures[key])
            assert done.first_line_ms is not None  # result() read that line
            samples[name]["wall_ms"].append(done.first_line_ms)
            samples[name]["cpu_ms"].append(figures["answered_cpu_ms"])
    return runs


def _moved(value: str, root: Path) -> str:
    """``value`` (a path, or a ``PYTHONPATH``) with this tree's paths under ``root`` instead;
    only whole path names (``/work/main-old`` is not under ``/work/main``)."""
    return re.sub(re.escape(str(ROOT)) + r"(?=[/:]|$)", lambda _: str(root), value)


def top_imports(
    cold: ColdStartWorld, name: str, runs: int, bytecode: dict[str, str]
) -> list[tuple[str, float, float]]:
    """(module, self ms, cumulative ms), medians over ``runs`` processes, by self time."""
    per_module: dict[str, tuple[list[int], list[int]]] = {}
    for _ in range(runs):
        start = cold.start(name, sys.executable, "-X", "importtime")
        done = fresh_process(start.argv, {**start.env, **bytecode}, start.cwd, start.stdin)
        start.result(done.returncode, done.stdout, done.stderr)
        for module, _depth, own, cumulative in import_times(done.stderr):
            entry = per_module.setdefault(module, ([], []))
            entry[0].append(own)
            entry[1].append(cumulative)
    rows = [
        (module, statistics.median(own) / 1000, statistics.median(cum) / 1000)
        for module, (own, cum) in per_module.items()
        if len(own) == runs
    ]
    rows.sort(key=lambda row: -row[1])
    return rows[:10]


def summarise(
    bare: dict[str, list[float]],
    samples: dict[str, dict[str, list[float]]],
    imports: dict[str, list[tuple[str, float, float]]],
) -> dict[str, Any]:
    bare_wall = statistics.median(bare["wall_ms"])
    bare_cpu = statistics.median(bare["cpu_ms"])
    functions: dict[str, Any] = {}
    for name, figures in samples.items():
        medians: dict[str, Any] = {
            key: statistics.median(values) for key, values in figures.items()
        }
        medians["over_ms"] = medians["wall_ms"] - bare_wall
        medians["over_cpu_ms"] = medians["cpu_ms"] - bare_cpu
        medians["top_imports"] = [list(row) for row in imports[name]]
        functions[name] = medians
    references = {
        prefix.rstrip("_"): {
            "over_ms": statistics.median(bare[f"{prefix}wall_ms"]) - bare_wall,
            "over_cpu_ms": statistics.median(bare[f"{prefix}cpu_ms"]) - bare_cpu,
        }
        for _, prefix in REFERENCES.values()
        if prefix
    }
    return {
        "bare": {"wall_ms": bare_wall, "cpu_ms": bare_cpu},
        **references,
        "functions": functions,
    }


def _met(value: float, target: float) -> str:
    return "yes" if value <= target else "NO"


def verdicts(functions: dict[str, Any]) -> list[str]:
    """One line per target, each starting ``verdict:``, judged in wall and CPU time."""
    lines = []
    for name, f in functions.items():
        lines.append(
            f"verdict: {name} at most {TARGET_OVER_BARE_MS:.0f} ms over bare: "
            f"wall {f['over_ms']:.1f} {_met(f['over_ms'], TARGET_OVER_BARE_MS)}, "
            f"CPU {f['over_cpu_ms']:.1f} {_met(f['over_cpu_ms'], TARGET_OVER_BARE_MS)}"
        )
    if STATELESS in functions:
        f = functions[STATELESS]
        lines.append(
            f"verdict: stateless authorizer at most {TARGET_AUTHORIZER_MS:.0f} ms over bare: "
            f"wall {f['over_ms']:.1f} {_met(f['over_ms'], TARGET_AUTHORIZER_MS)}, "
            f"CPU {f['over_cpu_ms']:.1f} {_met(f['over_cpu_ms'], TARGET_AUTHORIZER_MS)}"
        )
    if STATELESS in functions and SESSION in functions:
        wall = functions[SESSION]["over_ms"] - functions[STATELESS]["over_ms"]
        cpu = functions[SESSION]["over_cpu_ms"] - functions[STATELESS]["over_cpu_ms"]
        target = TARGET_SESSION_OVER_STATELESS_MS
        lines.append(
            f"verdict: session-checked authorizer at most {target:.0f} ms over the stateless "
            f"one: wall {wall:.1f} {_met(wall, target)}, CPU {cpu:.1f} {_met(cpu, target)}"
        )
    return lines


def over_runtime(result: dict[str, Any]) -> list[str]:
    """The stateless authorizer over what Lambda's runtime has imported before any handler
    (``RUNTIME``), which it imports too (the import-graph test holds it): what it adds to a
    cold start on Lambda. Not the issue's verdict, which is over a bare interpreter."""
    runtime, f = result.get("runtime"), result["functions"].get(STATELESS)
    if not runtime or not f:
        return []
    wall = f["over_ms"] - runtime["over_ms"]
    cpu = f["over_cpu_ms"] - runtime["over_cpu_ms"]
    return [
        f"(not a verdict) stateless authorizer over Lambda's runtime start (`{RUNTIME}`, "
        f"which awslambdaric's bootstrap runs before it imports a handler): wall {wall:.1f}, "
        f"CPU {cpu:.1f}"
    ]


def table(result: dict[str, Any]) -> list[str]:
    bare = result["bare"]
    lines = [
        "| function | import ms (wall / CPU) | first event ms (wall / CPU) "
        "| total over bare ms (wall / CPU) | top three imports, self ms |",
        "|---|---:|---:|---:|---|",
        f"| `{BARE}` (baseline) | | | {bare['wall_ms']:.1f} / {bare['cpu_ms']:.1f} (itself) | |",
    ]
    floor = result["floor"]
    lines.append(
        f"| floor of an authorizer: `python -c '{FLOOR}'` | | "
        f"| {floor['over_ms']:.1f} / {floor['over_cpu_ms']:.1f} | |"
    )
    runtime = result.get("runtime")  # not in runs saved before it was measured
    if runtime:
        lines.append(
            f"| Lambda's runtime before a handler: `python -c '{RUNTIME}'` | | "
            f"| {runtime['over_ms']:.1f} / {runtime['over_cpu_ms']:.1f} | |"
        )
    for name, f in result["functions"].items():
        tops = ", ".join(
            f"`{module}` {own:.1f}" for module, own, _ in f["top_imports"][:TOP_IMPORTS]
        )
        lines.append(
            f"| {name} | {f['import_ms']:.1f} / {f['import_cpu_ms']:.1f} "
            f"| {f['first_event_ms']:.1f} / {f['first_event_cpu_ms']:.1f} "
            f"| **{f['over_ms']:.1f}** / **{f['over_cpu_ms']:.1f}** | {tops} |"
        )
    return lines


def report(result: dict[str, Any]) -> str:
    meta = result["meta"]
    lines = [
        f"`{meta['command']}`  ",
        f"Python {meta['python']}, {meta['machine']}, {meta['cpus']} CPU(s), load average "
        f"{meta['load'][0]:.1f} before / {meta['load'][1]:.1f} after; tracing off; layer "
        f"bytecode {meta.get('layer_bytecode', 'shipped')}; median of "
        f"{meta['processes']} fresh processes of each, interleaved with `{BARE}`",
    ]
    if meta["processes"] < 15:
        lines.append(f"(only {meta['processes']} processes each: the figures are indicative)")
    lines += ["", *table(result), "", *verdicts(result["functions"])]
    lines += over_runtime(result)
    lines += ["", *memory_table(result["functions"])]
    return "\n".join(lines)


def memory_table(functions: dict[str, Any]) -> list[str]:
    """A cold start's CPU on Lambda at each function's MemorySize, which buys one vCPU at
    1,769 MB and a proportional share below. Two readings: everything at that share (an
    upper bound), and the init (interpreter and import) on a full vCPU with only the first
    event at the share, as AWS describes an on-demand function's init phase ("Effectively
    running Java on Serverless": a full, non-throttled vCPU for up to 10 s)."""
    lines = [
        f"CPU of a cold start at each function's MemorySize (one vCPU at {FULL_VCPU_MB} MB, a "
        "proportional share below)",
        "",
        "| function | MemorySize MB | vCPU share | import + first event, CPU ms here "
        "| all at that share, ms | import on a full vCPU, first event at the share, ms |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, f in functions.items():
        share = min(1.0, f["memory_mb"] / FULL_VCPU_MB)
        cpu = f["import_cpu_ms"] + f["first_event_cpu_ms"]
        init_boosted = f["import_cpu_ms"] + f["first_event_cpu_ms"] / share
        lines.append(
            f"| {name} | {f['memory_mb']} | {share:.2f} | {cpu:.1f} | {cpu / share:.0f} "
            f"| {init_boosted:.0f} |"
        )
    return lines


def snapstart_table(functions: dict[str, Any]) -> list[str]:
    """Per function: today's cold start over bare, the part a SnapStart restore finds done
    (everything before the first event: the snapshot is taken after init) and the part it
    still pays (the first event), in wall and CPU ms."""
    lines = [
        "SnapStart estimate (what a restore skips; the restore itself is not measurable off "
        "AWS, and the authorizers prime their readers' imports into the snapshot, so part "
        "of their first event moves there too: 'remains' is an upper bound)",
        "",
        "| function | today over bare ms (wall / CPU) | SnapStart removes (wall / CPU) "
        "| remains: first event (wall / CPU) |",
        "|---|---:|---:|---:|",
    ]
    for name, f in functions.items():
        removed_wall = max(f["over_ms"] - f["first_event_ms"], 0.0)
        removed_cpu = max(f["over_cpu_ms"] - f["first_event_cpu_ms"], 0.0)
        lines.append(
            f"| {name} | {f['over_ms']:.1f} / {f['over_cpu_ms']:.1f} "
            f"| {removed_wall:.1f} / {removed_cpu:.1f} "
            f"| {f['first_event_ms']:.1f} / {f['first_event_cpu_ms']:.1f} |"
        )
    return lines


def _run_of(meta: dict[str, Any]) -> str:
    tree = f", tree {meta['tree']}" if meta.get("tree") else ""
    return (
        f"{meta['processes']} processes, layer bytecode "
        f"{meta.get('layer_bytecode', 'shipped')}{tree}"
    )


def _commit(root: Path) -> str:
    """The commit ``root`` is checked out at (``+`` if its files differ from it)."""
    try:
        done = subprocess.run(
            ["git", "describe", "--always", "--dirty=+"],  # noqa: S607 - git on PATH
            cwd=root,
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:  # no git: an exported tree
        return ""
    return done.stdout.strip()


def compare(before: dict[str, Any], after: dict[str, Any]) -> str:
    """The figures that judge the targets, before and after, side by side."""
    lines = [
        f"before: `{before['meta']['command']}` ({_run_of(before['meta'])})  ",
        f"after: `{after['meta']['command']}` ({_run_of(after['meta'])})",
        "",
        "| function | over bare, wall ms: before | after | change "
        "| over bare, CPU ms: before | after | change | import ms (wall): before | after |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in [name for name in after["functions"] if name in before["functions"]]:
        b, a = before["functions"][name], after["functions"][name]
        lines.append(
            f"| {name} | {b['over_ms']:.1f} | {a['over_ms']:.1f} "
            f"| {a['over_ms'] - b['over_ms']:+.1f} | {b['over_cpu_ms']:.1f} "
            f"| {a['over_cpu_ms']:.1f} | {a['over_cpu_ms'] - b['over_cpu_ms']:+.1f} "
            f"| {b['import_ms']:.1f} | {a['import_ms']:.1f} |"
        )
    lines += ["", "after:", *verdicts(after["functions"])]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.coldstart", description=__doc__)
    parser.add_argument(
        "--functions", default="", help="comma-separated logical ids (default: every function)"
    )
    parser.add_argument("--processes", type=int, default=15, help="processes of each")
    parser.add_argument(
        "--importtime-runs", type=int, default=3, help="`-X importtime` processes per function"
    )
    parser.add_argument("--json", metavar="PATH", help="write the figures here as JSON")
    parser.add_argument(
        "--compare", nargs="+", metavar="PATH", help="BEFORE.json [AFTER.json], see above"
    )
    parser.add_argument(
        "--snapstart", action="store_true", help="also estimate what SnapStart removes, see above"
    )
    parser.add_argument(
        "--layer-bytecode",
        choices=(*LAYER_BYTECODE, "both"),
        default="shipped",
        help="what the layer holds besides its sources (both: each, interleaved), see above",
    )
    parser.add_argument(
        "--against",
        metavar="TREE",
        type=Path,
        help="another checkout (git worktree add TREE COMMIT) measured in the same rounds",
    )
    args = parser.parse_args(argv)
    if args.against and (args.layer_bytecode == "both" or args.compare):
        parser.error("--against takes neither --layer-bytecode both nor --compare")
    if args.compare and len(args.compare) > 2:
        parser.error("--compare takes BEFORE.json and at most one AFTER.json")
    if args.compare and len(args.compare) == 2:
        before, after = (json.loads(Path(path).read_text()) for path in args.compare)
        print(compare(before, after))
        return 0
    known = list(template.functions())
    functions = [name for name in args.functions.split(",") if name] or known
    unknown = sorted(set(functions) - set(known))
    if unknown:
        parser.error(f"not functions of template.yaml: {', '.join(unknown)}")
    if args.processes < 1 or args.importtime_runs < 1:
        parser.error("--processes and --importtime-runs must be at least 1")

    chosen = LAYER_BYTECODE if args.layer_bytecode == "both" else (args.layer_bytecode,)
    modes = {mode: bytecode_environment(mode) for mode in chosen}
    roots = {}
    if args.against:
        roots[AGAINST] = args.against.resolve()
        modes[AGAINST] = bytecode_environment(args.layer_bytecode, roots[AGAINST])
    load_before = os.getloadavg()[0]
    with world() as cold:
        runs = measure(cold, functions, args.processes, modes, roots)
        imports = {
            name: top_imports(cold, name, args.importtime_runs, modes[chosen[0]])
            for name in functions
        }
        memory = {
            name: int(cold.functions[name].env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"])
            for name in functions
        }
    results = {}
    for mode, (bare, samples) in runs.items():
        # Top imports are measured for the reported layer only.
        mode_imports = imports if mode == chosen[0] else {name: [] for name in functions}
        result = summarise(bare, samples, mode_imports)
        for name, memory_mb in memory.items():
            result["functions"][name]["memory_mb"] = memory_mb
        result["meta"] = {
            "command": " ".join([".venv/bin/python -m bench.coldstart", *(argv or sys.argv[1:])]),
            "python": platform.python_version(),
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
            "load": [load_before, os.getloadavg()[0]],
            "processes": args.processes,
            "layer_bytecode": args.layer_bytecode if mode == AGAINST else mode,
            "tree": _commit(roots.get(mode, ROOT)),
        }
        result["verdicts"] = verdicts(result["functions"])
        results[mode] = result
    result = results[chosen[0]]
    result["tls_context_cpu_ms"] = tls_context_ms(args.processes)
    print(report(result))
    print()
    print(
        f"A TLS context (`ssl.create_default_context()`: the CA bundle loaded): "
        f"{result['tls_context_cpu_ms']:.1f} ms of CPU here, median of {args.processes}. Not in "
        "the table (the endpoints here are plain HTTP). A container makes one "
        "(`transport.tls_context`); before, every new connection made its own."
    )
    if AGAINST in results:
        print()
        print(f"This tree against {args.against}, same rounds")
        print(compare(results[AGAINST], result))
    elif len(results) > 1:
        print()
        print("Layer bytecode: none (before layers/common/Makefile) against shipped, same rounds")
        print(compare(results["none"], results["shipped"]))
    if args.snapstart:
        print()
        print("\n".join(snapstart_table(result["functions"])))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    if args.compare:
        before = json.loads(Path(args.compare[0]).read_text())
        print()
        print(compare(before, result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

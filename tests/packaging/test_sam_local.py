"""The SAM CLI's own local path, offline: `sam build` of the template, every function invoked
with every sample event through `sam local start-lambda` (warm containers, the emulator SAM
ships, a Lambda-like python3.12 image built on this machine), each answer checked for its
success case against the local stack, and a protected route through `sam local start-api`.

`make sam-local` runs the same cases with a cold `sam local invoke` per event.
"""

from __future__ import annotations

import fcntl
import json

import pytest

from infra.samlocal import run as samlocal
from infra.samlocal.common import WORK, MachineCannot, SamLocalError

pytestmark = pytest.mark.packaging

_NOBODY = samlocal.Session("a.e30.s", "r", {"sub": "s", "sid": "i"})
CASES = [case.name for case in samlocal.cases(_NOBODY, _NOBODY, _NOBODY)]


def _run_once(results_file) -> dict[str, object]:
    """One run per test session, whichever pytest-xdist worker asks first: the others wait
    on the lock and read its outcome (one image, one build, one set of containers)."""
    WORK.mkdir(parents=True, exist_ok=True)
    with (WORK / "run.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if results_file.is_file():
            recorded: dict[str, object] = json.loads(results_file.read_text())
            return recorded
        try:
            checked = samlocal.run(log=print, warm=True)
            outcome: dict[str, object] = {"cases": {c.name: c.problem for c in checked}}
        except MachineCannot as reason:
            outcome = {"cannot": str(reason)}
        except SamLocalError as error:
            outcome = {"error": str(error)}
        results_file.write_text(json.dumps(outcome))
        return outcome


@pytest.fixture(scope="module")
def outcomes(testrun_uid) -> dict[str, str | None]:
    outcome = _run_once(WORK / f"outcome-{testrun_uid}.json")
    if "cannot" in outcome:
        # `make test` installs and starts Docker and debootstrap where it can (root on
        # Debian); elsewhere this tier cannot run, and says so in the summary rather than
        # passing silently. Any other failure of the run is an error, not a skip.
        pytest.skip(f"sam local cannot run on this machine: {outcome['cannot']}")
    if "error" in outcome:
        pytest.fail(f"sam local failed: {outcome['error']}")
    cases: dict[str, str | None] = outcome["cases"]  # type: ignore[assignment]
    return cases


@pytest.mark.parametrize("name", CASES)
def test_function_answers_its_sample_event(outcomes, name):
    assert name in outcomes
    assert outcomes[name] is None, outcomes[name]


def test_protected_route_through_start_api(outcomes):
    assert "start-api GET /api/me" in outcomes
    assert outcomes["start-api GET /api/me"] is None


def test_a_machine_without_docker_is_told_so_not_passed(monkeypatch):
    """The skip above is reserved for what the machine lacks; the run says which."""
    monkeypatch.setattr(samlocal, "docker_ready", lambda: "the docker daemon is not running")
    with pytest.raises(MachineCannot, match="docker daemon is not running"):
        samlocal.run(log=print)

"""Worker processes, one pool per function: the local stand-in for Lambda's scaling.

A worker is busy with one invocation at a time, like a Lambda execution
environment; when every worker of a function is busy the pool starts another,
up to a cap, and beyond it callers wait for one to come free. A worker that times
out is killed (Lambda resets the environment) and a worker that died is replaced.
"""

from __future__ import annotations

import contextlib
import json
import queue
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

from infra.local import ACCOUNT_ID, REGION, ROOT

MAX_WORKERS_PER_FUNCTION = 4
INIT_TIMEOUT_SECONDS = 30.0  # generous: the import of a handler is its cold start


class InvocationFailed(Exception):
    """The function did not answer: unhandled error, timeout, crash or failed init."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    module: str
    attribute: str
    environment: dict[str, str]
    memory_mb: int
    timeout_seconds: int

    @property
    def arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{self.logical_id}"


def _pump(stream: TextIO, sink: Callable[[str], None]) -> None:
    for line in stream:
        sink(line)


class Worker:
    def __init__(self, spec: FunctionSpec, number: int, log: Callable[[str], None]) -> None:
        self.spec = spec
        self.name = f"{spec.logical_id}#{number}"
        self._answers: queue.Queue[str | None] = queue.Queue()
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "infra.local.worker", spec.module, spec.attribute],
            cwd=ROOT,
            env=spec.environment,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
            bufsize=1,
        )
        assert self.process.stdout is not None  # noqa: S101
        assert self.process.stderr is not None  # noqa: S101
        threading.Thread(target=self._read_answers, daemon=True).start()
        prefix = f"[{self.name}] "
        threading.Thread(
            target=_pump, args=(self.process.stderr, lambda line: log(prefix + line)), daemon=True
        ).start()
        self.ready = False

    def _read_answers(self) -> None:
        assert self.process.stdout is not None  # noqa: S101
        for line in self.process.stdout:
            self._answers.put(line)
        self._answers.put(None)  # end of stream: the process is gone

    def _next_answer(self, timeout: float) -> dict[str, Any]:
        try:
            line = self._answers.get(timeout=timeout)
        except queue.Empty:
            raise InvocationFailed("timeout") from None
        if line is None:
            raise InvocationFailed("process exited")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def wait_ready(self, timeout: float = INIT_TIMEOUT_SECONDS) -> None:
        if self.ready:
            return
        answer = self._next_answer(timeout)
        if not answer.get("ready"):
            raise InvocationFailed(f"init failed ({answer.get('error', '?')})")
        self.ready = True

    def invoke(self, event: Any, request_id: str | None = None) -> Any:
        self.wait_ready()
        assert self.process.stdin is not None  # noqa: S101
        timeout = self.spec.timeout_seconds
        # Lambda keeps an asynchronous invocation's request id across its retries.
        request_id = request_id or str(uuid.uuid4())
        context = {
            "function_name": self.spec.logical_id,
            "invoked_function_arn": self.spec.arn,
            "memory_limit_in_mb": self.spec.memory_mb,
            "aws_request_id": request_id,
            "deadline_ms": int((time.time() + timeout) * 1000),
            "log_group_name": f"/aws/lambda/{self.spec.logical_id}",
            "log_stream_name": self.name,
        }
        try:
            self.process.stdin.write(json.dumps({"event": event, "context": context}) + "\n")
            self.process.stdin.flush()
        except OSError:
            raise InvocationFailed("process exited") from None
        answer = self._next_answer(timeout)
        if not answer.get("ok"):
            raise InvocationFailed(f"unhandled {answer.get('error', 'error')}")
        return answer.get("result")

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def end_input(self) -> None:
        """End of input: the worker's loop ends (``stop`` then waits for it)."""
        if self.process.stdin is not None:
            with contextlib.suppress(OSError):
                self.process.stdin.close()

    def stop(self, grace: float = 3.0) -> None:
        if self.process.stdin is not None:
            with contextlib.suppress(OSError):
                self.process.stdin.close()  # end of input: the worker's loop ends
        try:
            self.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.process.terminate()
            try:
                self.process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()


class FunctionPool:
    """Scales like Lambda, minus the cold start on the request path: when every
    worker is busy, one more starts in the background (up to the cap) and the
    request takes whichever worker is free first. Python imports take a second or
    two here; had a request wait for one, a burst (the authorizer fetching the
    JWKS while other requests are in flight) would pile cold starts onto each
    other and trip timeouts that a deployed stack never sees."""

    def __init__(
        self,
        spec: FunctionSpec,
        log: Callable[[str], None],
        max_workers: int = MAX_WORKERS_PER_FUNCTION,
    ) -> None:
        self.spec = spec
        self._log = log
        self._max = max_workers
        self._idle: list[Worker] = []
        self._all: list[Worker] = []
        self._started = 0
        self._starting = 0
        self._failures = 0
        self._last_failure = ""
        self._closed = False
        self._lock = threading.Condition()

    def _start_worker(self, *, reserved: bool = False) -> None:
        """Start a worker and wait for its import; it joins the idle ones when ready.
        ``reserved``: the caller already counted it in ``_starting``."""
        with self._lock:
            self._started += 1
            if not reserved:
                self._starting += 1
            worker = Worker(self.spec, self._started, self._log)
            self._all.append(worker)
        try:
            worker.wait_ready()
        except InvocationFailed as failure:
            worker.kill()
            with self._lock:
                self._starting -= 1
                self._all.remove(worker)
                self._failures += 1
                self._last_failure = failure.reason
                self._lock.notify_all()
            self._log(f"[{worker.name}] {failure.reason}\n")
            raise
        with self._lock:
            self._starting -= 1
            if self._closed:
                self._all.remove(worker)
            else:
                self._idle.append(worker)
            self._lock.notify_all()
        if self._closed:
            worker.stop()

    def _start_in_background(self) -> None:
        def run() -> None:
            with contextlib.suppress(InvocationFailed):
                self._start_worker(reserved=True)

        threading.Thread(target=run, daemon=True).start()

    def warm(self) -> None:
        """An eager cold start: the first request is fast, a broken handler shows at start."""
        self._start_worker()

    def _acquire(self) -> Worker:
        with self._lock:
            failures = self._failures
            while True:
                if self._closed:
                    raise InvocationFailed("stack shutting down")
                if self._idle:
                    return self._idle.pop()
                if self._failures != failures and not self._all:
                    # No worker at all and the one started for us died in its
                    # import: Lambda's Runtime.ImportModuleError, an error answer.
                    raise InvocationFailed(self._last_failure)
                if self._starting == 0 and len(self._all) < self._max:
                    self._starting += 1  # counted now: one start at a time per function
                    self._start_in_background()
                self._lock.wait()

    def _release(self, worker: Worker, healthy: bool) -> None:
        with self._lock:
            if healthy and worker.alive and not self._closed:
                self._idle.append(worker)
            else:
                self._all.remove(worker)
            self._lock.notify_all()
        if not healthy:
            worker.kill()

    def invoke(self, event: Any, request_id: str | None = None) -> Any:
        worker = self._acquire()
        healthy = False
        try:
            result = worker.invoke(event, request_id)
        except InvocationFailed as failure:
            # An unhandled error leaves the environment usable, as in Lambda;
            # a timeout or a dead process does not.
            healthy = failure.reason.startswith("unhandled") and worker.alive
            self._log(f"[{worker.name}] invocation failed: {failure.reason}\n")
            raise
        else:
            healthy = True
            return result
        finally:
            self._release(worker, healthy)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            workers = list(self._all)
            self._lock.notify_all()
        # Every worker told first, so that they wind down together, not one by one.
        for worker in workers:
            worker.end_input()
        for worker in workers:
            worker.stop()

"""One function's execution environment: ``python -m infra.local.worker MODULE ATTRIBUTE``.

Like a Lambda container it imports the handler module once (the cold start) and then
serves invocations one at a time, keeping module state between them.

Protocol, one JSON document per line: requests arrive on stdin as
``{"event": ..., "context": {...}}``; answers leave on the *original* stdout as
``{"ok": true, "result": ...}`` or ``{"ok": false, "error": "<type>"}``. Before the
handler module is imported, file descriptor 1 is pointed at stderr, so whatever the
handler prints (Powertools logs, EMF metrics, stray prints) lands in the log stream
and can never corrupt the protocol. The first line is ``{"ready": true}`` once the
module is imported, or ``{"ready": false, "error": ...}`` if the import failed.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any, TextIO


class LambdaContext:
    """The attributes of the Python runtime's context object that handlers (and
    Powertools' ``inject_lambda_context``) read."""

    def __init__(self, fields: dict[str, Any]) -> None:
        self.function_name: str = fields["function_name"]
        self.function_version: str = fields.get("function_version", "$LATEST")
        self.invoked_function_arn: str = fields["invoked_function_arn"]
        self.memory_limit_in_mb: int = int(fields["memory_limit_in_mb"])
        self.aws_request_id: str = fields["aws_request_id"]
        self.log_group_name: str = fields.get("log_group_name", "")
        self.log_stream_name: str = fields.get("log_stream_name", "")
        self.identity: Any = None
        self.client_context: Any = None
        self._deadline_ms: int = int(fields["deadline_ms"])

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(time.time() * 1000))


def _send(channel: TextIO, message: dict[str, Any]) -> None:
    channel.write(json.dumps(message, separators=(",", ":")) + "\n")
    channel.flush()


def serve(handler: Callable[[Any, Any], Any], requests: TextIO, channel: TextIO) -> None:
    for line in requests:
        if not line.strip():
            continue
        request = json.loads(line)
        try:
            result = handler(request["event"], LambdaContext(request["context"]))
            # Lambda serialises the result itself: an unserialisable one is an error.
            answer = json.dumps({"ok": True, "result": result}, separators=(",", ":"))
        except Exception as error:  # an unhandled error is the invocation's answer
            traceback.print_exc()
            _send(channel, {"ok": False, "error": type(error).__name__})
            continue
        channel.write(answer + "\n")
        channel.flush()


def main(argv: list[str]) -> int:
    module_name, attribute = argv
    # Ctrl-C reaches the whole process group: the stack stops its workers itself
    # (end of stdin, then SIGTERM), so a worker does not die mid-invocation on SIGINT.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    channel = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = os.fdopen(1, "w", encoding="utf-8", buffering=1, closefd=False)
    # The Python runtime gives the root logger a handler: records of plain
    # ``logging`` loggers reach the function's log stream (Powertools has its own).
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("[%(levelname)s]\t%(name)s\t%(message)s"))
    logging.getLogger().addHandler(handler)
    try:
        handler = getattr(importlib.import_module(module_name), attribute)
    except Exception as error:  # Runtime.ImportModuleError
        traceback.print_exc()
        _send(channel, {"ready": False, "error": type(error).__name__})
        return 1
    _send(channel, {"ready": True})
    serve(handler, sys.stdin, channel)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

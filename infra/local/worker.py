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
import traceback
from collections.abc import Callable
from typing import Any, TextIO

from infra.devkit.context import LambdaContext


def _send(channel: TextIO, message: dict[str, Any]) -> None:
    channel.write(json.dumps(message, separators=(",", ":")) + "\n")
    channel.flush()


def serve(handler: Callable[[Any, Any], Any], requests: TextIO, channel: TextIO) -> None:
    for line in requests:
        if not line.strip():
            continue
        request = json.loads(line)
        try:
            result = handler(request["event"], LambdaContext(**request["context"]))
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

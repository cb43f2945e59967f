"""The Lambda runtime's context object, as handlers (and Powertools' ``inject_lambda_context``)
read it: in the tests and benchmarks, and in the local stack's worker processes."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from infra.devkit.environment import ACCOUNT_ID, REGION


@dataclass
class LambdaContext:
    function_name: str = "test-function"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = ""  # derived from the name when empty
    aws_request_id: str = "test-request-id"
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = ""
    # Epoch milliseconds when the invocation times out; None: a fixed 10 s left.
    deadline_ms: int | None = None
    identity: Any = None
    client_context: Any = None

    def __post_init__(self) -> None:
        self.memory_limit_in_mb = int(self.memory_limit_in_mb)
        if not self.invoked_function_arn:
            self.invoked_function_arn = (
                f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{self.function_name}"
            )

    def get_remaining_time_in_millis(self) -> int:
        if self.deadline_ms is None:
            return 10_000
        return max(0, self.deadline_ms - int(time.time() * 1000))

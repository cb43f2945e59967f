"""API Gateway Lambda authorizer: verification of access tokens, stateless or
session-checked.

One code, two modes (``AUTHORIZER_MODE``), deployed as two functions:

- ``stateless`` (the default): signature and claims only, no I/O. A logout takes
  effect when the access token expires.
- ``session``: additionally, the token's session must be live in the sessions
  table (``authcore.sessions.check``: one cached GetItem), so a logout takes
  effect within ``REVOCATION_MAX_LAG_SECONDS``. When DynamoDB fails, the request
  is refused.

One function for HTTP API 2.0, REST TOKEN and REST REQUEST events: the event's
shape picks the request class that reads it and shapes the answer
(``authcore.edge.authorizer``). The container's configuration, key ring,
verifiers and session check are ``runtime`` (``authcore.runtime.verifying``).

Keys come from the keys table, read directly with one hand-signed ``Query``
(``authcore.keys.source``): never through the public, throttled JWKS route, which
anyone can make fail, and which a ring that fails closed must therefore not
depend on. Its import graph is part of its latency: standard library,
``cryptography`` and the light modules of ``authcore`` only; no Powertools, no
PyJWT, and no AWS SDK in either mode (the session check signs its GetItem by hand).
"""

from __future__ import annotations

import os
from typing import Any

from authcore.edge import authorizer
from authcore.runtime import snapstart
from authcore.runtime.verifying import VerifyingRuntime

runtime = VerifyingRuntime()
# Under SnapStart: what the first request would import goes into the snapshot (the keys
# table's reader, and in session mode the session check, else the revocation feed's
# reader), and a restored container forgets what the snapshot's container may have held.
snapstart.install(
    runtime.reset,
    prime=("authcore.keys.source", "authcore.sessions.check")
    if os.environ.get("AUTHORIZER_MODE") == "session"
    else ("authcore.keys.source", "authcore.revocation.feed", "authcore.revocation.source"),
)


def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
    try:
        request = authorizer.read(event)
        settings = runtime.settings()
        token, issuer = request.token_and_issuer(settings)
        return request.allow(runtime.authorize(token, issuer), settings.route_scopes)
    except Exception as denied:
        authorizer.log_denial(denied)
        return authorizer.deny(event, denied)

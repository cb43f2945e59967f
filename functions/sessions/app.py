"""GET /auth/sessions and DELETE /auth/sessions/{sid}: the caller's own sessions.

Behind the authorizer: the caller is whoever its context names, nothing else.
"""

from __future__ import annotations

from authcore.edge import http, requests, responses
from authcore.edge.observability import metrics
from authcore.edge.router import Response
from authcore.runtime import signing

app = http.new_app()


@app.get("/auth/sessions")
def list_sessions() -> Response:
    caller = requests.caller(app.current_event)
    return responses.sessions(signing.session_service().list_sessions(caller.sub, caller.sid))


@app.delete("/auth/sessions/<sid>")
def revoke_session(sid: str) -> Response:
    request = requests.revoke_session(app.current_event, sid)
    signing.session_service().revoke_session(request.caller.sub, request.sid)
    metrics.add_metric(name="SessionRevoked", unit="Count", value=1)
    return responses.no_content()


lambda_handler = http.lambda_handler(app)

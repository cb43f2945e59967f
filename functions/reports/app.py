"""GET /api/reports: an example route that requires a scope.

Its scope, ``reports:read``, is not checked here: the authorizers read it from
their configuration (``ROUTE_SCOPES`` in template.yaml) and refuse a token
without it before this function runs. It serves users and machine clients
(contract §9) alike, and trusts only what the authorizer put in the context.
"""

from __future__ import annotations

from authcore.edge import http, requests, responses
from authcore.edge.router import Response

app = http.new_app()


@app.get("/api/reports")
def reports() -> Response:
    return responses.reports(requests.principal(app.current_event))


lambda_handler = http.lambda_handler(app, with_metrics=False)

"""GET /api/me: an example protected route.

It trusts only what the authorizer put in the request context; it never parses
the token itself.
"""

from __future__ import annotations

from authcore.edge import http, requests, responses
from authcore.edge.router import Response

app = http.new_app()


@app.get("/api/me")
def me() -> Response:
    return responses.me(requests.me(app.current_event))


lambda_handler = http.lambda_handler(app, with_metrics=False)

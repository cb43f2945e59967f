"""POST /auth/logout: revoke this session (or, with {"all": true}, every one)."""

from __future__ import annotations

from authcore.edge import http, requests, responses
from authcore.edge.observability import metrics
from authcore.edge.router import Response
from authcore.runtime import signing

app = http.new_app("/auth/logout")


@app.post("/auth/logout")
def logout() -> Response:
    request = requests.logout(app.current_event, signing.settings())
    signing.session_service().logout(
        request.presented, issuer=request.issuer, everywhere=request.everywhere
    )
    metrics.add_metric(name="Logout", unit="Count", value=1)
    return responses.logged_out(request)


lambda_handler = http.lambda_handler(app)

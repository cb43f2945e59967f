"""The static pages of the local stack: the demo single-page app at ``/``, on the API's
own origin, and a hostile page served from another origin (a second port).

Neither is part of the API (template.yaml knows nothing of them): a route of the
template always wins over a page, and only GET and HEAD of the listed paths are
served, never a file named by the request.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from pathlib import Path

from infra.local import ROOT
from infra.local.gateway import (
    LoggingHandler,
    LoggingServer,
    Request,
    Response,
    gateway_error,
    send,
)

DEMO_DIR = ROOT / "demo"
_CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}
# The demo page is the reference for single-page apps, so it shows the headers one
# should ship with: scripts only from its own origin (an injected inline script
# cannot run, and could not read the HttpOnly cookies anyway), requests only to its
# own origin, and no framing (clickjacking). Images also from data: URIs: the API hands
# out the TOTP enrolment's QR code as one (an SVG in an <img> runs no script).
DEMO_CSP = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "img-src 'self' data:",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    )
)


@dataclass(frozen=True)
class StaticSite:
    """A fixed map of URL paths to files of one folder."""

    files: Mapping[str, str]
    root: Path = DEMO_DIR
    headers: tuple[tuple[str, str], ...] = field(default=())

    def serve(self, method: str, raw_path: str) -> Response | None:
        """The page at this path, or None when the site has no such page."""
        name = self.files.get(raw_path)
        if name is None or method not in ("GET", "HEAD"):
            return None
        try:
            body = (self.root / name).read_bytes()  # read per request: edit, reload
        except OSError:
            return gateway_error(404, "Not Found")
        headers = [
            ("Content-Type", _CONTENT_TYPES.get(Path(name).suffix, "application/octet-stream")),
            ("Cache-Control", "no-cache"),
            ("X-Content-Type-Options", "nosniff"),
            ("Referrer-Policy", "no-referrer"),
            *self.headers,
        ]
        return Response(200, headers, body)


# The pages the account mails link to (APP_URL + path, contract §7), and the sign-up
# page: the one-page app shows the screen its path names. The token travels in the
# fragment (#token=...), which never reaches a server or a log.
DEMO_SCREENS = ("/forgot-password", "/reset-password", "/accept-invite", "/verify-email", "/signup")


def demo_site() -> StaticSite:
    """The demo app, served by the gateway on the API's origin."""
    return StaticSite(
        {
            "/": "index.html",
            **dict.fromkeys(DEMO_SCREENS, "index.html"),
            "/demo/app.js": "app.js",
            "/demo/app.css": "app.css",
        },
        headers=(("Content-Security-Policy", DEMO_CSP),),
    )


def local_pages(
    *sources: Callable[[Request], Response | None],
) -> Callable[[Request], Response | None]:
    """The first answer of ``sources``, for the gateway's paths without a route."""

    def serve(request: Request) -> Response | None:
        for source in sources:
            answer = source(request)
            if answer is not None:
                return answer
        return None

    return serve


def site_pages(site: StaticSite) -> Callable[[Request], Response | None]:
    return lambda request: site.serve(request.method, request.raw_path)


def other_origin_site() -> StaticSite:
    """A page of someone else's (another origin) that tries to use the visitor's
    cookies against the API; no CSP, as an attacker would ship none."""
    return StaticSite(
        {
            "/": "other-origin.html",
            "/demo/other-origin.js": "other-origin.js",
            "/demo/app.css": "app.css",
        }
    )


class _Server(LoggingServer):
    site: StaticSite


class _Handler(LoggingHandler):
    server: _Server
    server_version = "local-static"
    log_prefix = "[other-origin]"

    def _serve(self) -> None:
        raw_path = self.path.partition("?")[0]
        response = self.server.site.serve(self.command, raw_path) or gateway_error(404, "Not Found")
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.close_connection = True  # a body nobody reads: do not reuse the connection
        send(self, response)
        self.server.log(f"[other-origin] {self.command} {raw_path} -> {response.status}\n")

    do_GET = do_HEAD = do_POST = _serve


def static_server(site: StaticSite, port: int, log: Callable[[str], None]) -> ThreadingHTTPServer:
    """Serves one site on 127.0.0.1:port, which a browser reaches both as
    ``http://localhost:port`` (same site as the API, another origin) and as
    ``http://127.0.0.1:port`` (another site altogether)."""
    server = _Server(("127.0.0.1", port), _Handler)
    server.site = site
    server.log = log
    return server

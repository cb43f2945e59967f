"""A local API Gateway HTTP API: routes, payload format 2.0 events, the Lambda
authorizer with simple responses, and the 2.0 response rules.

Where API Gateway answers by itself, this answers the same way: an unmatched route
is ``404 {"message":"Not Found"}``, a denial ``403 {"message":"Forbidden"}``, a
function (or authorizer) that fails or answers nonsense ``500 {"message":"Internal
Server Error"}``.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote

from infra.local import ACCOUNT_ID, REGION
from infra.local.pool import FunctionPool, InvocationFailed
from infra.template import Route

API_ID = "local"
STAGE = "$default"
MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit
# What HTTP APIs deliver as text, as measured against AWS (ministackorg/ministack#766):
# text/* and these; every other content type, and none at all, arrives base64-encoded.
TEXT_MEDIA_TYPES = frozenset({"application/json", "application/xml", "application/javascript"})
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# The methods an HTTP API routes. Others (TRACE, CONNECT, made-up tokens) get the
# gateway's JSON 404 here rather than http.server's HTML 501; what AWS answers to them
# has not been measured, only that no function ever sees them.
HTTP_API_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
# Hop-by-hop or recomputed here: never copied from a function's answer.
_DROPPED_RESPONSE_HEADERS = frozenset({"content-length", "transfer-encoding", "connection"})


@dataclass(frozen=True)
class Request:
    method: str
    raw_path: str
    raw_query: str
    headers: list[tuple[str, str]]
    body: bytes
    source_ip: str
    protocol: str = "HTTP/1.1"

    def header(self, name: str) -> str | None:
        values = [value for key, value in self.headers if key.lower() == name]
        return ",".join(values) if values else None


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes = b""


class MalformedResponse(Exception):
    pass


@dataclass(frozen=True)
class Authorizer:
    """The HttpApi's Lambda authorizer and its identity sources (SAM's ``Identity``
    ``Headers``, ``QueryStrings`` and ``Context``). When a configured source is
    missing from a request, API Gateway answers 401 itself without calling the
    function; the template's default authorizers configure none, precisely so that
    cookie-borne tokens get through. ``ttl_seconds`` (``ReauthorizeEvery``) caches
    answers by the identity values (``Context: [domainName, routeKey]`` among them:
    a route's scopes make the answer depend on the route) and the domain."""

    function: str
    headers: tuple[str, ...] = ()
    query_strings: tuple[str, ...] = ()
    ttl_seconds: int = 0
    context: tuple[str, ...] = ()

    def identity(
        self, request: Request, context: Mapping[str, str] | None = None
    ) -> list[str] | None:
        """The identitySource values, or None when a configured one is missing.
        ``context``: the ``$context`` variables a source may name (``routeKey``, ...)."""
        values = [request.header(name.lower()) for name in self.headers]
        query = dict(parse_qsl(request.raw_query, keep_blank_values=True))
        values += [query.get(name) for name in self.query_strings]
        values += [(context or {}).get(name) for name in self.context]
        if any(not value for value in values):
            return None
        return [value for value in values if value]


def gateway_error(status: int, message: str) -> Response:
    body = json.dumps({"message": message}, separators=(",", ":")).encode()
    return Response(status, [("Content-Type", "application/json")], body)


# ------------------------------------------------------------------ routing
@dataclass(frozen=True)
class _CompiledRoute:
    route: Route
    segments: tuple[str, ...]

    @property
    def specificity(self) -> tuple[int, int]:
        literal = sum(1 for s in self.segments if not s.startswith("{"))
        greedy = sum(1 for s in self.segments if s.endswith("+}"))
        return literal, -greedy

    def match(self, method: str, segments: list[str]) -> dict[str, str] | None:
        if method != self.route.method and self.route.method != "ANY":
            return None
        params: dict[str, str] = {}
        for index, pattern in enumerate(self.segments):
            if pattern.startswith("{") and pattern.endswith("+}"):
                rest = segments[index:]
                if not rest or not any(rest):
                    return None
                params[pattern[1:-2]] = "/".join(rest)
                return params
            if index >= len(segments):
                return None
            if pattern.startswith("{") and pattern.endswith("}"):
                if not segments[index]:
                    return None
                params[pattern[1:-1]] = segments[index]
            elif pattern != segments[index]:
                return None
        return params if len(segments) == len(self.segments) else None


class Router:
    def __init__(self, routes: list[Route]) -> None:
        compiled = [_CompiledRoute(r, tuple(r.path.strip("/").split("/"))) for r in routes]
        # API Gateway prefers the most specific route: literal segments win over variables.
        self._routes = sorted(compiled, key=lambda c: c.specificity, reverse=True)

    def match(self, method: str, raw_path: str) -> tuple[Route, dict[str, str]] | None:
        segments = [unquote(s) for s in raw_path.strip("/").split("/")]
        for candidate in self._routes:
            params = candidate.match(method, segments)
            if params is not None:
                return candidate.route, params
        return None


# ------------------------------------------------------------------ events
def encode_body(body: bytes, content_type: str | None) -> tuple[str, bool]:
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type.startswith("text/") or media_type in TEXT_MEDIA_TYPES:
        try:
            return body.decode("utf-8"), False
        except UnicodeDecodeError:
            pass  # not representable as a JSON string: base64 is the only faithful form
    return base64.b64encode(body).decode("ascii"), True


def _clf_time(epoch: float) -> str:
    t = time.gmtime(epoch)
    clock = time.strftime("%H:%M:%S", t)
    return f"{t.tm_mday:02d}/{_MONTHS[t.tm_mon - 1]}/{t.tm_year}:{clock} +0000"


def _request_id() -> str:
    return base64.b64encode(secrets.token_bytes(11)).decode("ascii")


class EventBuilder:
    def __init__(self, port: int) -> None:
        self.port = port
        self.domain_name = f"localhost:{port}"

    def _common(
        self, request: Request, route: Route, params: dict[str, str], request_id: str, now: float
    ) -> dict[str, Any]:
        headers: dict[str, str] = {}
        cookies: list[str] = []
        for name, value in request.headers:
            key = name.lower()
            if key == "cookie":
                # 2.0 moves cookies out of the headers, one entry per cookie.
                cookies.extend(c for c in value.split("; ") if c)
                continue
            headers[key] = f"{headers[key]},{value}" if key in headers else value
        forwarded = headers.get("x-forwarded-for")
        client = request.source_ip
        headers["x-forwarded-for"] = f"{forwarded}, {client}" if forwarded else client
        headers["x-forwarded-port"] = str(self.port)
        headers["x-forwarded-proto"] = "http"
        headers.setdefault("x-amzn-trace-id", f"Root=1-{int(now):08x}-{secrets.token_hex(12)}")
        query: dict[str, str] = {}
        for key, value in parse_qsl(request.raw_query, keep_blank_values=True):
            query[key] = f"{query[key]},{value}" if key in query else value
        route_key = f"{route.method} {route.path}"
        event: dict[str, Any] = {
            "version": "2.0",
            "routeKey": route_key,
            "rawPath": request.raw_path,
            "rawQueryString": request.raw_query,
        }
        if cookies:
            event["cookies"] = cookies
        event["headers"] = headers
        if query:
            event["queryStringParameters"] = query
        event["requestContext"] = {
            "accountId": ACCOUNT_ID,
            "apiId": API_ID,
            "domainName": self.domain_name,
            "domainPrefix": self.domain_name.split(".", 1)[0].split(":", 1)[0],
            "http": {
                "method": request.method,
                "path": request.raw_path,
                "protocol": request.protocol,
                "sourceIp": request.source_ip,
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": request_id,
            "routeKey": route_key,
            "stage": STAGE,
            "time": _clf_time(now),
            "timeEpoch": int(now * 1000),
        }
        if params:
            event["pathParameters"] = params
        return event

    def authorizer_event(
        self,
        request: Request,
        route: Route,
        params: dict[str, str],
        request_id: str,
        now: float,
        identity: list[str] | None = None,
    ) -> dict[str, Any]:
        common = self._common(request, route, params, request_id, now)
        api = f"arn:aws:execute-api:{REGION}:{ACCOUNT_ID}:{API_ID}"
        arn = f"{api}/{STAGE}/{request.method}{request.raw_path}"
        event: dict[str, Any] = {"version": "2.0", "type": "REQUEST", "routeArn": arn}
        if identity:  # absent without identity sources (the cookie-capable authorizers)
            event["identitySource"] = identity
        event.update((k, v) for k, v in common.items() if k != "version")
        return event

    def route_event(
        self,
        request: Request,
        route: Route,
        params: dict[str, str],
        request_id: str,
        now: float,
        authorizer_context: dict[str, Any] | None,
    ) -> dict[str, Any]:
        event = self._common(request, route, params, request_id, now)
        if route.authorized:
            event["requestContext"]["authorizer"] = {"lambda": authorizer_context}
        if request.body:
            event["body"], event["isBase64Encoded"] = encode_body(
                request.body, request.header("content-type")
            )
        else:
            event["isBase64Encoded"] = False
        return event


# ---------------------------------------------------------------- responses
def _header_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise MalformedResponse(f"header value of type {type(value).__name__}")


def lambda_response(result: Any) -> Response:
    """Payload format 2.0: an explicit response when ``statusCode`` is present,
    otherwise the inferred one (200, application/json, the result as the body)."""
    if not (isinstance(result, dict) and "statusCode" in result):
        text = result if isinstance(result, str) else json.dumps(result)
        return Response(200, [("Content-Type", "application/json")], text.encode("utf-8"))
    status = result["statusCode"]
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        raise MalformedResponse("statusCode")
    headers: list[tuple[str, str]] = []
    for name, value in (result.get("headers") or {}).items():
        headers.append((str(name), _header_value(value)))
    for name, values in (result.get("multiValueHeaders") or {}).items():
        if not isinstance(values, list):
            raise MalformedResponse("multiValueHeaders")
        headers.extend((str(name), _header_value(v)) for v in values)
    cookies = result.get("cookies") or []
    if not isinstance(cookies, list) or not all(isinstance(c, str) for c in cookies):
        raise MalformedResponse("cookies")
    headers.extend(("Set-Cookie", cookie) for cookie in cookies)
    headers = [(k, v) for k, v in headers if k.lower() not in _DROPPED_RESPONSE_HEADERS]
    body = result.get("body")
    if body is None:
        data = b""
    elif not isinstance(body, str):
        raise MalformedResponse("body")
    elif result.get("isBase64Encoded"):
        try:
            data = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise MalformedResponse("base64 body") from None
    else:
        data = body.encode("utf-8")
    return Response(status, headers, data)


# --------------------------------------------------------------------- CORS
@dataclass(frozen=True)
class Cors:
    """The HttpApi's CorsConfiguration: API Gateway answers preflights itself and
    adds the CORS headers to every answer for an allowed origin."""

    allow_origins: frozenset[str]
    allow_methods: tuple[str, ...]
    allow_headers: tuple[str, ...]
    allow_credentials: bool
    max_age: int | None

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | None) -> Cors | None:
        if not config:
            return None
        return cls(
            allow_origins=frozenset(config.get("AllowOrigins") or ()),
            allow_methods=tuple(config.get("AllowMethods") or ()),
            allow_headers=tuple(config.get("AllowHeaders") or ()),
            allow_credentials=bool(config.get("AllowCredentials")),
            max_age=int(config["MaxAge"]) if "MaxAge" in config else None,
        )

    def allows(self, origin: str | None) -> bool:
        return origin is not None and (origin in self.allow_origins or "*" in self.allow_origins)

    def headers(self, origin: str) -> list[tuple[str, str]]:
        headers = [("Access-Control-Allow-Origin", origin)]
        if self.allow_credentials:
            headers.append(("Access-Control-Allow-Credentials", "true"))
        return headers

    def preflight(self, request: Request) -> Response | None:
        origin = request.header("origin")
        if request.method != "OPTIONS" or request.header("access-control-request-method") is None:
            return None
        if not self.allows(origin):
            return Response(204, [])
        assert origin is not None  # noqa: S101
        headers = self.headers(origin)
        headers.append(("Access-Control-Allow-Methods", ",".join(self.allow_methods)))
        if self.allow_headers:
            headers.append(("Access-Control-Allow-Headers", ",".join(self.allow_headers).lower()))
        if self.max_age is not None:
            headers.append(("Access-Control-Max-Age", str(self.max_age)))
        return Response(204, headers)


# ------------------------------------------------------------------ gateway
_Verdict = tuple[bool, dict[str, Any] | None]
_CacheKey = tuple[Authorizer, tuple[str, ...], str]


class Gateway:
    def __init__(
        self,
        routes: list[Route],
        pools: Mapping[str, FunctionPool],
        authorizer: Authorizer | None,
        port: int,
        log: Callable[[str], None],
        cors: Cors | None = None,
        pages: Callable[[Request], Response | None] | None = None,
        route_authorizers: Mapping[tuple[str, str], Authorizer] | None = None,
    ) -> None:
        self._router = Router(routes)
        self._pages = pages
        self._pools = pools
        self._authorizer = authorizer
        # (method, path) -> the authorizer a route names instead of the default one
        # (``Auth: {Authorizer: SessionAuthorizer}``).
        self._route_authorizers = dict(route_authorizers or {})
        self._events = EventBuilder(port)
        self._log = log
        self._cors = cors
        # (authorizer, identity values, host) -> (expiry, (allowed, context)), as API
        # Gateway's result cache keeps answers; failures are never cached.
        self._cache: dict[_CacheKey, tuple[float, _Verdict]] = {}

    def handle(self, request: Request) -> Response:
        request_id = _request_id()
        response = self._handle(request, request_id)
        origin = request.header("origin")
        if self._cors is not None and self._cors.allows(origin) and origin is not None:
            names = {"access-control-allow-origin", "access-control-allow-credentials"}
            response.headers = [(k, v) for k, v in response.headers if k.lower() not in names]
            response.headers.extend(self._cors.headers(origin))
        response.headers.append(("apigw-requestid", request_id))
        return response

    def _authorize(
        self, request: Request, route: Route, params: dict[str, str], request_id: str, now: float
    ) -> Response | dict[str, Any] | None:
        """The authorizer's context, or the gateway's own answer. A denial is 403; an
        authorizer that fails or answers nonsense is a 500, as API Gateway answers
        (both keep the route's function from running)."""
        authorizer = self._route_authorizers.get((route.method, route.path), self._authorizer)
        if authorizer is None:
            return gateway_error(500, "Internal Server Error")
        variables = {
            "domainName": self._events.domain_name,
            "routeKey": f"{route.method} {route.path}",  # as EventBuilder writes it
        }
        identity = authorizer.identity(request, variables)
        if identity is None:
            return gateway_error(401, "Unauthorized")
        # API Gateway caches only with identity sources, keyed by their values.
        cacheable = authorizer.ttl_seconds > 0 and bool(identity)
        key = (authorizer, tuple(identity), request.header("host") or "")
        cached = self._cache.get(key) if cacheable else None
        if cached is not None and cached[0] > now:
            allowed, context = cached[1]
        else:
            event = self._events.authorizer_event(request, route, params, request_id, now, identity)
            answer = self._invoke_authorizer(authorizer.function, event, route)
            if isinstance(answer, Response):
                return answer
            if cacheable:
                self._remember(key, answer, now + authorizer.ttl_seconds, now)
            allowed, context = answer
        return context if allowed else gateway_error(403, "Forbidden")

    def _remember(self, key: _CacheKey, verdict: _Verdict, expires: float, now: float) -> None:
        if len(self._cache) >= 10_000:  # a long local session: drop what has expired
            self._cache = {k: v for k, v in self._cache.items() if v[0] > now}
        self._cache[key] = (expires, verdict)

    def _invoke_authorizer(
        self, function: str, event: dict[str, Any], route: Route
    ) -> Response | _Verdict:
        """(allowed, the allow's context), or the gateway's 500 when the authorizer
        fails or answers nonsense."""
        try:
            answer = self._pools[function].invoke(event)
        except InvocationFailed:
            return gateway_error(500, "Internal Server Error")
        if not isinstance(answer, dict) or not isinstance(answer.get("isAuthorized"), bool):
            self._log(f"[gateway] invalid authorizer answer for {route.method} {route.path}\n")
            return gateway_error(500, "Internal Server Error")
        if answer["isAuthorized"] is not True:
            return False, None
        context = answer.get("context")
        if context is not None and not isinstance(context, dict):
            self._log("[gateway] authorizer context is not an object\n")
            return gateway_error(500, "Internal Server Error")
        return True, context

    def _handle(self, request: Request, request_id: str) -> Response:
        if self._cors is not None:
            preflight = self._cors.preflight(request)
            if preflight is not None:
                return preflight
        if request.method not in HTTP_API_METHODS:
            return gateway_error(404, "Not Found")
        found = self._router.match(request.method, request.raw_path)
        if found is None:
            # Local only: the demo pages and the outbox, where the template has no route.
            page = self._pages(request) if self._pages else None
            # A known path with another method is no route either: API Gateway says 404.
            return page or gateway_error(404, "Not Found")
        route, params = found
        now = time.time()
        context: dict[str, Any] | None = None
        if route.authorized:
            verdict = self._authorize(request, route, params, request_id, now)
            if isinstance(verdict, Response):
                return verdict
            context = verdict
        event = self._events.route_event(request, route, params, request_id, now, context)
        try:
            result = self._pools[route.function].invoke(event)
        except InvocationFailed:
            return gateway_error(500, "Internal Server Error")
        try:
            return lambda_response(result)
        except MalformedResponse as error:
            self._log(f"[gateway] malformed response from {route.function}: {error}\n")
            return gateway_error(500, "Internal Server Error")


# --------------------------------------------------------------------- HTTP
def send(handler: BaseHTTPRequestHandler, response: Response) -> None:
    """Write a response (no body to a HEAD), with the length of its body."""
    handler.send_response(response.status)
    for name, value in response.headers:
        handler.send_header(name, value)
    handler.send_header("Content-Length", str(len(response.body)))
    handler.end_headers()
    if handler.command != "HEAD":
        handler.wfile.write(response.body)


class LoggingServer(ThreadingHTTPServer):
    """A threaded server on 127.0.0.1 that reports through the stack's log."""

    daemon_threads = True
    log: Callable[[str], None]


class LoggingHandler(BaseHTTPRequestHandler):
    """HTTP/1.1, no Python version in the Server header, one line per request written by
    the subclass itself and errors to the stack's log under ``log_prefix``."""

    protocol_version = "HTTP/1.1"
    server: LoggingServer
    sys_version = ""
    log_prefix = "[http]"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def log_error(self, format: str, *args: Any) -> None:
        self.server.log(f"{self.log_prefix} {format % args}\n")


class _Server(LoggingServer):
    gateway: Gateway


class _Handler(LoggingHandler):
    server: _Server
    server_version = "local-apigateway"

    def _read_body(self) -> bytes | None:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks: list[bytes] = []
            size = 0
            while True:
                length = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if length == 0:
                    while self.rfile.readline().strip():
                        pass  # trailers
                    return b"".join(chunks)
                size += length
                if size > MAX_BODY_BYTES:
                    return None
                chunks.append(self.rfile.read(length))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            return None
        return self.rfile.read(length) if length > 0 else b""

    def _serve(self) -> None:
        started = time.monotonic()
        raw_path, _, raw_query = self.path.partition("?")
        try:
            body = self._read_body()
            refusal = None if body is not None else gateway_error(413, "Request Entity Too Large")
        except ValueError:  # a Content-Length or chunk size that is no number
            body, refusal = None, gateway_error(400, "Bad Request")
        if refusal is not None or body is None:
            self.close_connection = True  # the rest of the request is still unread
            response = refusal or gateway_error(400, "Bad Request")
        else:
            request = Request(
                method=self.command.upper(),
                raw_path=raw_path,
                raw_query=raw_query,
                headers=[
                    (k, v) for k, v in self.headers.items() if k.lower() != "transfer-encoding"
                ],
                body=body,
                source_ip=self.client_address[0],
                protocol=self.request_version,
            )
            try:
                response = self.server.gateway.handle(request)
            except Exception:  # a bug of the local gateway itself: loud, never a hang
                self.server.log(f"[gateway] {traceback.format_exc()}")
                response = gateway_error(500, "Internal Server Error")
        send(self, response)
        elapsed = (time.monotonic() - started) * 1000
        line = f"{self.command} {raw_path} -> {response.status} ({elapsed:.0f} ms)"
        self.server.log(f"[http] {line}\n")

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

    def __getattr__(self, name: str) -> Any:
        # Any other method token reaches _serve too (http.server would answer 501 in HTML).
        if name.startswith("do_"):
            return self._serve
        raise AttributeError(name)


def http_server(gateway: Gateway, port: int, log: Callable[[str], None]) -> ThreadingHTTPServer:
    server = _Server(("127.0.0.1", port), _Handler)
    server.gateway = gateway
    server.log = log
    return server

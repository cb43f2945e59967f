"""API Gateway HTTP API events (payload format 2.0) routed to handlers, and their answers
in the format API Gateway reads back.

Not Powertools' ``APIGatewayHttpResolver``: its import (asyncio, the AppSync resolver, the
event data classes) cost ~60 ms of every HTTP function's cold start (issue #20), for
routing, exception handlers and a response format, which is all these functions use. The
behaviour kept from it, on which the contract's answers rest:

- routes match the method and the whole path (``rawPath``, less the stage when it is not
  ``$default``); ``<name>`` segments become keyword arguments; routes without one are
  tried first;
- a failure goes to the handler registered for the nearest class in its MRO; an unmatched
  request to the not-found handler;
- a body that is not a string is serialized (as JSON, by every caller); the headers go out
  as one value each, the cookies as ``Set-Cookie`` strings in ``cookies``
  (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from aws_lambda_powertools.shared.cookies import Cookie

# RFC 3986's unreserved and sub-delims, '@' and ':', and what API Gateway hands over
# decoded: the characters a path parameter may hold (Powertools' set, kept as it was).
_SEGMENT = r"[-._~()'!*:@,;=+&$%<> \[\]{}|^\w]+"
_PARAMETER = re.compile(r"<(\w+)>")

# The request being answered, per thread (tests drive handlers from concurrent threads),
# and shared by every router, as Powertools' was: a router left over from an earlier
# import of a handler module (a test that reloads it) still answers the current request.
_answering = threading.local()

Route = Callable[..., "Response"]
R = TypeVar("R", bound=Route)
E = TypeVar("E", bound=Callable[[Any], "Response"])


class Headers(Mapping[str, str]):
    """Request headers, read case-insensitively (RFC 9110 §5.1): HTTP APIs lowercase the
    names, but a test, ``sam local`` or another proxy may not."""

    def __init__(self, raw: Mapping[str, Any] | None) -> None:
        self._values = {str(name).lower(): value for name, value in (raw or {}).items()}

    def __getitem__(self, name: str) -> str:
        value: str = self._values[name.lower()]
        return value

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


class Event:
    """One request, read from the event without trusting its shape: a missing member reads
    as empty, so a malformed event ends in the contract's 4xx, not a crash."""

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self.raw = raw
        self.headers = Headers(raw.get("headers"))
        context = raw.get("requestContext")
        self._context: Mapping[str, Any] = context if isinstance(context, Mapping) else {}

    def get(self, name: str, default: Any = None) -> Any:
        return self.raw.get(name, default)

    @property
    def cookies(self) -> list[str]:
        cookies = self.raw.get("cookies")
        return list(cookies) if isinstance(cookies, list) else []

    @property
    def method(self) -> str:
        http = self._context.get("http")
        return str(http.get("method", "") if isinstance(http, Mapping) else "").upper()

    @property
    def path(self) -> str:
        path = str(self.raw.get("rawPath") or "")
        stage = self._context.get("stage")
        # A named stage prefixes the path it was invoked on ("/prod/auth/login").
        if stage and stage != "$default" and path.startswith(f"/{stage}/"):
            return path[len(stage) + 1 :]
        return path

    @property
    def domain_name(self) -> str | None:
        name = self._context.get("domainName")
        return name if isinstance(name, str) else None

    @property
    def authorizer_context(self) -> dict[str, Any]:
        """What the Lambda authorizer returned as ``context`` (empty without one)."""
        authorizer = self._context.get("authorizer")
        found = authorizer.get("lambda") if isinstance(authorizer, Mapping) else None
        return dict(found) if isinstance(found, Mapping) else {}


class Response:
    """An answer: a status, a body (serialized unless it is a string), headers
    (``content_type`` fills in ``Content-Type`` unless they set it), and cookies."""

    def __init__(
        self,
        status_code: int,
        content_type: str | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        cookies: Sequence[Cookie] | None = None,
    ) -> None:
        self.status_code = status_code
        self.body = body
        self.headers = dict(headers or {})
        self.cookies = list(cookies or [])
        if content_type:
            self.headers.setdefault("Content-Type", content_type)

    def build(self, serializer: Callable[[Any], str]) -> dict[str, Any]:
        body = self.body
        if body is not None and not isinstance(body, str):
            body = serializer(body)
        return {
            "statusCode": self.status_code,
            "body": body,
            "isBase64Encoded": False,
            "headers": self.headers,
            "cookies": [str(cookie) for cookie in self.cookies],
        }


class Router:
    """Routes, exception handlers and a not-found handler; ``resolve`` answers one event."""

    def __init__(self, serializer: Callable[[Any], str]) -> None:
        self._serializer = serializer
        self._static: list[tuple[str, re.Pattern[str], Route]] = []
        self._dynamic: list[tuple[str, re.Pattern[str], Route]] = []
        self._handlers: dict[type[BaseException], Callable[[Any], Response]] = {}
        self._not_found: Callable[[], Response] | None = None

    @property
    def current_event(self) -> Event:
        """The event being answered on this thread (AttributeError outside a request)."""
        event: Event = _answering.event
        return event

    def route(self, rule: str, method: str | Sequence[str]) -> Callable[[R], R]:
        methods = [method] if isinstance(method, str) else list(method)
        pattern = re.compile(
            "^" + _PARAMETER.sub(lambda name: f"(?P<{name[1]}>{_SEGMENT})", rule) + "$"
        )
        table = self._dynamic if _PARAMETER.search(rule) else self._static

        def register(func: R) -> R:
            table.extend((m.upper(), pattern, func) for m in methods)
            return func

        return register

    def get(self, rule: str) -> Callable[[R], R]:
        return self.route(rule, "GET")

    def post(self, rule: str) -> Callable[[R], R]:
        return self.route(rule, "POST")

    def delete(self, rule: str) -> Callable[[R], R]:
        return self.route(rule, "DELETE")

    def exception_handler(self, kind: type[BaseException]) -> Callable[[E], E]:
        def register(func: E) -> E:
            self._handlers[kind] = func
            return func

        return register

    def not_found(self, func: Callable[[], Response]) -> Callable[[], Response]:
        self._not_found = func
        return func

    def resolve(self, event: Mapping[str, Any], _context: Any = None) -> dict[str, Any]:
        _answering.event = request = Event(event)
        try:
            response = self._dispatch(request)
        except Exception as error:
            handler = next(
                (self._handlers[k] for k in type(error).__mro__ if k in self._handlers), None
            )
            if handler is None:
                raise
            response = handler(error)
        return response.build(self._serializer)

    def _dispatch(self, request: Event) -> Response:
        method, path = request.method, request.path
        for route_method, pattern, func in (*self._static, *self._dynamic):
            if route_method == method:
                match = pattern.match(path)
                if match:
                    return func(**match.groupdict())
        if self._not_found is None:
            return Response(404)
        return self._not_found()

"""authcore.edge.router: routing, failures and the answer's format, as the HTTP functions
rely on them (the functions' own tests cover every route through it)."""

import json

import pytest
from aws_lambda_powertools.shared.cookies import Cookie

from authcore.edge.router import Event, Response, Router


def event(method="GET", path="/", **extra):
    return {
        "rawPath": path,
        "requestContext": {"http": {"method": method}, "stage": "$default"},
        **extra,
    }


def compact(body):
    return json.dumps(body, separators=(",", ":"))


def sessions_router():
    router = Router(serializer=compact)

    @router.get("/auth/sessions/<sid>")
    def one(sid):
        return Response(200, "application/json", {"route": "one", "sid": sid})

    @router.get("/auth/sessions/current")
    def current():
        return Response(200, "application/json", {"route": "current"})

    @router.route("/auth/sessions", method=["GET", "POST"])
    def listing():
        return Response(200, "text/plain", router.current_event.method)

    @router.not_found
    def missing():
        return Response(404, "application/json", {"error": "not_found"})

    return router


@pytest.fixture
def app():
    return sessions_router()


def test_a_route_without_parameters_wins_over_one_with():
    """Registered after the parameterised route, the static one still answers its path."""
    router = sessions_router()
    answer = router.resolve(event(path="/auth/sessions/current"))
    assert json.loads(answer["body"]) == {"route": "current"}
    answer = router.resolve(event(path="/auth/sessions/s-1~x"))
    assert json.loads(answer["body"]) == {"route": "one", "sid": "s-1~x"}


def test_a_route_matches_the_method_and_the_whole_path(app):
    assert app.resolve(event("POST", "/auth/sessions"))["body"] == "POST"
    assert app.resolve(event("get", "/auth/sessions"))["body"] == "GET"
    for method, path in [
        ("DELETE", "/auth/sessions"),
        ("GET", "/auth/sessions/"),
        ("GET", "/auth/sessions/a/b"),
        ("GET", "/x/auth/sessions"),
    ]:
        assert app.resolve(event(method, path))["statusCode"] == 404, (method, path)


def test_a_named_stage_is_not_part_of_the_path(app):
    staged = event("POST", "/prod/auth/sessions")
    staged["requestContext"]["stage"] = "prod"
    assert app.resolve(staged)["body"] == "POST"


def test_a_malformed_event_is_not_found_not_a_crash(app):
    for broken in [{}, {"rawPath": 7, "requestContext": "x"}, {"requestContext": {"http": 1}}]:
        assert app.resolve(broken)["statusCode"] == 404
    odd = Event({"headers": None, "cookies": "a=b", "requestContext": {"authorizer": []}})
    assert (dict(odd.headers), odd.cookies, odd.authorizer_context) == ({}, [], {})
    assert odd.domain_name is None


def test_a_failure_goes_to_the_handler_of_its_nearest_class():
    router = Router(serializer=compact)

    @router.get("/lookup")
    def lookup():
        raise KeyError("k")

    @router.get("/boom")
    def boom():
        raise RuntimeError("boom")

    router.exception_handler(LookupError)(lambda error: Response(400, "text/plain", "lookup"))
    router.exception_handler(Exception)(lambda error: Response(503, "text/plain", "any"))
    assert router.resolve(event(path="/lookup"))["body"] == "lookup"
    assert router.resolve(event(path="/boom"))["body"] == "any"


def test_a_failure_without_a_handler_is_not_swallowed():
    router = Router(serializer=compact)

    @router.get("/boom")
    def boom():
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        router.resolve(event(path="/boom"))


def test_the_answer_is_the_http_api_format():
    router = Router(serializer=compact)
    cookie = Cookie(name="a", value="b", path="/", secure=True, http_only=True)

    @router.post("/json")
    def answer():
        return Response(
            201, "application/json", {"k": [1, 2]}, headers={"X-One": "1"}, cookies=[cookie]
        )

    @router.post("/empty")
    def empty():
        return Response(204, headers={"Content-Type": "text/plain"})

    assert router.resolve(event("POST", "/json")) == {
        "statusCode": 201,
        "body": '{"k":[1,2]}',
        "isBase64Encoded": False,
        "headers": {"X-One": "1", "Content-Type": "application/json"},
        "cookies": [str(cookie)],
    }
    assert str(cookie).startswith("a=b;")
    assert router.resolve(event("POST", "/empty")) == {
        "statusCode": 204,
        "body": None,
        "isBase64Encoded": False,
        "headers": {"Content-Type": "text/plain"},
        "cookies": [],
    }


def test_headers_are_read_whatever_their_case():
    request = Event(event(headers={"Content-Type": "application/json", "x-a": "1"}))
    assert request.headers["content-type"] == "application/json"
    assert request.headers.get("X-A") == "1"
    assert request.headers.get("missing", "") == ""


def test_the_request_context_members():
    request = Event(
        {
            "requestContext": {
                "domainName": "auth.example.com",
                "authorizer": {"lambda": {"sub": "u1"}},
                "http": {"method": "post"},
            },
            "cookies": ["a=b"],
            "body": "x",
        }
    )
    assert request.domain_name == "auth.example.com"
    assert request.authorizer_context == {"sub": "u1"}
    assert request.method == "POST"
    assert request.cookies == ["a=b"]
    assert request.get("body") == "x"


def test_each_thread_reads_its_own_request():
    """Two requests answered at once on two threads: each route reads its own event."""
    import threading

    router = Router(serializer=compact)
    both_inside = threading.Barrier(2, timeout=10)

    @router.post("/echo")
    def echo():
        both_inside.wait()  # the other thread has set its event by now
        return Response(200, "text/plain", router.current_event.headers["x-n"])

    answers = {}

    def call(n):
        answers[n] = router.resolve(event("POST", "/echo", headers={"x-n": str(n)}))["body"]

    threads = [threading.Thread(target=call, args=(n,)) for n in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert answers == {1: "1", 2: "2"}


def test_a_router_from_an_earlier_import_answers_the_current_request():
    """A test that reloads a handler module can leave its first router in use while the
    routes read the new one: both see the request being answered."""
    old, new = Router(serializer=compact), Router(serializer=compact)

    @old.get("/who")
    def who():
        return Response(200, "text/plain", new.current_event.headers["x-who"])

    assert old.resolve(event(path="/who", headers={"x-who": "me"}))["body"] == "me"

import pytest

from authcore.edge.credentials import (
    ACCESS_COOKIE,
    bearer_token,
    check_same_site,
    cookie_value,
    origin_of,
)
from authcore.errors import Forbidden, InvalidRequest

ALLOWED = frozenset({"https://app.example.com"})
OWN = "https://api.example.com"


def test_cookie_value_from_the_v2_cookie_list():
    cookies = ["theme=dark", f"{ACCESS_COOKIE}=abc.def.ghi"]
    assert cookie_value(cookies, ACCESS_COOKIE) == "abc.def.ghi"
    assert cookie_value(cookies, "missing") is None
    assert cookie_value(None, ACCESS_COOKIE) is None


def test_a_planted_duplicate_cookie_is_refused():
    with pytest.raises(InvalidRequest):
        cookie_value([f"{ACCESS_COOKIE}=a", f"{ACCESS_COOKIE}=b"], ACCESS_COOKIE)


@pytest.mark.parametrize(
    ("header", "token"),
    [("Bearer abc", "abc"), ("bearer abc", "abc"), ("BEARER  abc ", "abc")],
)
def test_bearer_scheme_is_case_insensitive(header, token):
    assert bearer_token({"authorization": header}) == token


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "abc", "Token abc"])
def test_other_schemes_are_refused(header):
    with pytest.raises(InvalidRequest):
        bearer_token({"authorization": header})


def test_no_authorization_header():
    assert bearer_token({}) is None


@pytest.mark.parametrize(
    "headers",
    [
        {"sec-fetch-site": "cross-site"},
        {"sec-fetch-site": "Cross-Site", "origin": "https://app.example.com"},
        {"origin": "https://evil.example"},
        {"origin": "null"},
        {"origin": "https://app.example.com.evil.example"},
        {"origin": "https://app.example.com/"},
        {"origin": "http://app.example.com"},
    ],
)
def test_cross_site_requests_are_refused(headers):
    with pytest.raises(Forbidden):
        check_same_site(headers, ALLOWED, OWN)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"sec-fetch-site": "same-origin", "origin": OWN},
        {"sec-fetch-site": "same-site", "origin": "https://app.example.com"},
        {"sec-fetch-site": "none"},
        {"origin": "https://app.example.com"},
    ],
)
def test_same_site_and_non_browser_requests_pass(headers):
    check_same_site(headers, ALLOWED, OWN)


def test_origin_of_url():
    assert origin_of("https://auth.example.com/x/y") == "https://auth.example.com"
    assert origin_of("http://localhost:3000") == "http://localhost:3000"

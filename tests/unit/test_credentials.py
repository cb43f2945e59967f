import pytest

from authcore.edge.credentials import (
    ACCESS_COOKIE,
    REFRESH_COOKIE,
    Credential,
    bearer_token,
    check_same_site,
    cookie_value,
    origin_of,
    present,
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


CROSS_SITE = {"sec-fetch-site": "cross-site"}


def presented(headers, cookies=(), method="POST", **places):
    return present(
        headers, list(cookies), method=method, allowed_origins=ALLOWED, own_origin=OWN, **places
    )


def test_the_first_place_holding_a_credential_wins():
    cookies = [f"{REFRESH_COOKIE}=r1", f"{ACCESS_COOKIE}=a1"]
    bearer = {"authorization": "Bearer b1"}
    everywhere = {"refresh_cookie": True, "access_token": True}
    assert presented(bearer, cookies, body_refresh_token="t", **everywhere) == (
        Credential("t", "body", "refresh"),
    )
    assert presented(bearer, cookies, **everywhere) == (Credential("r1", "cookie", "refresh"),)
    assert presented(bearer, cookies[1:], **everywhere) == (Credential("b1", "bearer"),)
    assert presented({}, cookies[1:], **everywhere) == (Credential("a1", "cookie"),)
    assert presented(bearer, cookies) == ()  # only the places asked for are looked at


def test_every_refresh_cookie_candidate_is_presented():
    cookies = [f"{REFRESH_COOKIE}=ours", f"{REFRESH_COOKIE}=planted", f"{REFRESH_COOKIE}=ours"]
    found = presented({}, cookies, refresh_cookie=True)
    assert [c.value for c in found] == ["ours", "planted"]


@pytest.mark.parametrize(
    "places",
    [
        {},  # nothing presented: login CSRF
        {"refresh_cookie": True},
        {"access_token": True},
    ],
)
def test_ambient_or_no_credential_must_be_same_site(places):
    cookies = [f"{REFRESH_COOKIE}=r1", f"{ACCESS_COOKIE}=a1"]
    with pytest.raises(Forbidden):
        presented(CROSS_SITE, cookies, **places)
    with pytest.raises(Forbidden):
        presented({"origin": "null"}, cookies, **places)


def test_bearer_and_body_credentials_need_no_same_site_check():
    headers = {**CROSS_SITE, "origin": "https://evil.example", "authorization": "Bearer b1"}
    assert presented(headers, access_token=True) == (Credential("b1", "bearer"),)
    assert presented(headers, body_refresh_token="t") == (Credential("t", "body", "refresh"),)


def test_safe_methods_are_never_checked():
    cookies = [f"{ACCESS_COOKIE}=a1"]
    assert presented(CROSS_SITE, cookies, method="GET", access_token=True) == (
        Credential("a1", "cookie"),
    )


def test_a_credential_never_shows_its_value():
    assert "secret" not in repr(Credential("secret", "cookie", "refresh"))

"""Cookie tossing over HTTP on the local stack (issue 14, item 3).

A sibling subdomain plants a second `__Secure-refresh_token` (with `Domain=`), so
the browser sends two cookies of that name in one raw `Cookie` header. Logout must
still end our session, clear the cookies and send `Clear-Site-Data`; refresh must
rotate ours, and never the planted one in its place.
"""

from __future__ import annotations

import requests

from tests.e2e.conftest import DEMO_PASSWORD, USERS, LocalStack
from tests.e2e.test_openapi import conformance_errors

NAME = "__Secure-refresh_token"
GARBAGE = "A" * 22 + "." + "B" * 64


def login_cookie(stack: LocalStack, username: str, password: str) -> str:
    body = {"username": username, "password": password, "delivery": "cookie"}
    response = requests.post(f"{stack.base_url}/auth/login", json=body, timeout=10)
    assert response.status_code == 200, response.text
    value = response.cookies.get(NAME)
    assert value
    return value


def post(stack: LocalStack, path: str, *values: str) -> requests.Response:
    cookie = "; ".join(f"{NAME}={value}" for value in values)  # two same-named cookies
    return requests.post(f"{stack.base_url}{path}", headers={"Cookie": cookie}, timeout=10)


def set_cookie_names(response: requests.Response) -> set[str]:
    return {h.split("=", 1)[0] for h in response.raw.headers.getlist("Set-Cookie")}


def test_logout_with_a_planted_cookie_ends_our_session_and_clears_the_site(
    local_stack: LocalStack,
):
    genuine = login_cookie(local_stack, "sam", DEMO_PASSWORD)
    answer = post(local_stack, "/auth/logout", GARBAGE, genuine)
    assert answer.status_code == 204, answer.text
    assert answer.headers["Clear-Site-Data"] == '"cookies"'
    assert set_cookie_names(answer) == {"__Host-access_token", NAME}
    assert "Max-Age=0" in answer.headers["Set-Cookie"]
    assert conformance_errors("POST", "/auth/logout", answer) == []
    assert post(local_stack, "/auth/refresh", genuine).status_code == 401  # revoked


def test_refresh_rotates_ours_beside_a_planted_cookie(local_stack: LocalStack):
    genuine = login_cookie(local_stack, "sam", DEMO_PASSWORD)
    answer = post(local_stack, "/auth/refresh", genuine, GARBAGE)
    assert answer.status_code == 200, answer.text
    successor = answer.cookies.get(NAME)
    assert successor
    assert successor.split(".")[0] == genuine.split(".")[0]  # our session, rotated
    assert post(local_stack, "/auth/refresh", successor).status_code == 200


def test_a_planted_live_session_is_never_rotated_in_place_of_ours(local_stack: LocalStack):
    genuine = login_cookie(local_stack, "sam", DEMO_PASSWORD)
    alice = USERS["alice"]
    planted = login_cookie(local_stack, alice["username"], alice["password"])
    answer = post(local_stack, "/auth/refresh", planted, genuine)
    assert answer.status_code == 401, answer.text
    assert answer.headers["Clear-Site-Data"] == '"cookies"'
    assert conformance_errors("POST", "/auth/refresh", answer) == []
    # Neither was consumed: each still refreshes on its own.
    assert post(local_stack, "/auth/refresh", genuine).status_code == 200
    assert post(local_stack, "/auth/refresh", planted).status_code == 200

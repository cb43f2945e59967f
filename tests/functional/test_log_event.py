"""No environment variable may make a handler log its event: neither
POWERTOOLS_LOGGER_LOG_EVENT=true nor POWERTOOLS_DEV=true (the resolver's debug mode
prints every raw event).

Powertools reads the variables when `inject_lambda_context` decorates the handler
(a cold start), so each module is reloaded with it set, as Lambda would import it.
The events carry a live refresh token and access token (body, cookies and the
Authorization header); none of them, nor any fragment, may reach a log line.
"""

from __future__ import annotations

import importlib
import json

import pytest
from support import LambdaContext, load_event

from authcore.edge.credentials import ACCESS_COOKIE, REFRESH_COOKIE
from functions.login import app as login
from functions.logout import app as logout
from functions.me import app as me
from functions.refresh import app as refresh
from functions.rotation import app as rotation
from functions.sessions import app as sessions
from functions.wellknown import app as wellknown

HANDLERS = {
    "login": (login, "login.json"),
    "logout": (logout, "logout.json"),
    "refresh": (refresh, "refresh.json"),
    "sessions": (sessions, "sessions_list.json"),
    "me": (me, "me.json"),
    "wellknown": (wellknown, "wellknown_jwks.json"),
    "rotation": (rotation, "rotation_scheduled.json"),
}


def event_carrying(name: str, refresh_token: str, access_token: str) -> dict:
    event = load_event(name)
    if "headers" in event:  # API Gateway events: every place a credential travels
        event["headers"]["authorization"] = f"Bearer {access_token}"
        event["cookies"] = [f"{REFRESH_COOKIE}={refresh_token}", f"{ACCESS_COOKIE}={access_token}"]
        event["body"] = json.dumps({"refresh_token": refresh_token})
        event["headers"]["content-type"] = "application/json"
    else:  # the scheduled rotation: whatever its event holds must not be logged either
        event["detail"] = {"refresh_token": refresh_token, "access_token": access_token}
    return event


@pytest.mark.parametrize("name", HANDLERS)
def test_no_handler_logs_its_event_whatever_the_environment_says(
    name, demo_user, login_as, watch, monkeypatch
):
    module, event_file = HANDLERS[name]
    tokens = login_as().body
    watch.note_token(tokens["refresh_token"])
    watch.note_token(tokens["access_token"])
    event = event_carrying(event_file, tokens["refresh_token"], tokens["access_token"])
    with monkeypatch.context() as patch:
        patch.setenv("POWERTOOLS_LOGGER_LOG_EVENT", "true")
        patch.setenv("POWERTOOLS_DEV", "true")
        importlib.reload(module)
        try:
            response = module.lambda_handler(event, LambdaContext())
        finally:
            patch.undo()
            importlib.reload(module)
    assert response, "the handler answered nothing"
    assert watch.leaks() == set()

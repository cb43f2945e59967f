"""Issue 14, item 6: ended sessions must not hide live ones from GET /auth/sessions.

The by_user index keeps ended sessions until DynamoDB TTL removes them (days after
their expiry). Listing only its newest entries let an intruder hide a live session
behind enough login+logout cycles.
"""

from __future__ import annotations

import pytest
from session_checks import open_session
from support import invoke, load_event

from authcore.clock import FrozenClock
from authcore.runtime import signing
from functions.sessions import app as sessions

T0 = 1_800_000_000.0
ENDED = 130  # more than one page of 100, the old cap


@pytest.fixture
def clock(stack):
    clock = FrozenClock(T0)
    signing.use_clock(clock)
    return clock


def list_as(user_id, current_sid):
    event = load_event("sessions_list.json")
    event["requestContext"]["authorizer"] = {
        "lambda": {"sub": user_id, "sid": current_sid, "username": "sam", "scope": "profile"}
    }
    return invoke(sessions, event)


def sid_of(token):
    return token.split(".")[0]


def test_a_live_session_older_than_a_hundred_ended_ones_is_listed(demo_user, clock):
    store = signing.sessions()
    user = demo_user.user_id
    intruder = sid_of(open_session(store, T0, user))
    for i in range(ENDED):  # the intruder's login+logout cycles, all newer
        ended = sid_of(open_session(store, T0 + 1 + i, user))
        store.revoke(ended, now=T0 + 1 + i, reason="logout", user_id=user)
    owner = sid_of(open_session(store, T0 + ENDED + 10, user))
    clock.advance(ENDED + 20)

    answer = list_as(user, owner)

    assert answer.status == 200
    assert [(s["sid"], s["current"]) for s in answer.body["sessions"]] == [
        (owner, True),
        (intruder, False),
    ]


def test_every_live_session_is_listed_newest_first_across_pages(demo_user, clock):
    store = signing.sessions()
    user = demo_user.user_id
    live = []
    for i in range(ENDED + 5):
        sid = sid_of(open_session(store, T0 + i, user))
        if i % 3:
            store.revoke(sid, now=T0 + i, reason="logout", user_id=user)
        else:
            live.append(sid)
    clock.advance(ENDED + 10)

    answer = list_as(user, live[0])

    assert [s["sid"] for s in answer.body["sessions"]] == live[::-1]

"""The cases: each sample event of events/, made real with tokens from the local stack, and
what its function must answer (its success case, not only a refusal)."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote_plus, urlencode

Check = Callable[[Any], str | None]
# Reads one object of the revocation feed's bucket (contract §10): its body, None if absent.
FeedReader = Callable[[str], bytes | None]


@dataclass
class Session:
    access: str
    refresh: str
    claims: dict[str, Any]


@dataclass(frozen=True, repr=False)
class Machine:
    """A machine client registered for the OAuth cases (contract §9), and its secret."""

    client_id: str
    secret: str
    scope: str


def _json_body(answer: Any) -> Any:
    return json.loads(answer["body"]) if isinstance(answer, dict) and answer.get("body") else None


def _status(expected: int, body_check: Callable[[Any], bool] | None = None) -> Check:
    def check(answer: Any) -> str | None:
        if not isinstance(answer, dict) or answer.get("statusCode") != expected:
            return f"expected status {expected}, got {str(answer)[:300]}"
        if body_check is not None and not body_check(_json_body(answer)):
            return f"unexpected body: {str(answer.get('body'))[:300]}"
        return None

    return check


def _allowed_simple(answer: Any) -> str | None:
    if isinstance(answer, dict) and answer.get("isAuthorized") is True and answer.get("context"):
        return None
    return f"expected isAuthorized true with a context, got {str(answer)[:300]}"


def _refused_simple(answer: Any) -> str | None:
    if answer == {"isAuthorized": False}:
        return None
    return f"expected a refusal, got {str(answer)[:300]}"


def _allowed_policy(answer: Any) -> str | None:
    try:
        statement = answer["policyDocument"]["Statement"][0]
        if statement["Effect"] == "Allow" and answer["principalId"]:
            return None
    except (KeyError, IndexError, TypeError):
        pass
    return f"expected an Allow policy, got {str(answer)[:300]}"


def _rotation_report(answer: Any) -> str | None:
    if isinstance(answer, dict) and answer and "errorMessage" not in answer:
        return None
    return f"expected a rotation report, got {str(answer)[:300]}"


@dataclass
class Case:
    function: str
    event_file: str
    check: Check
    edit: Callable[[dict[str, Any]], None] = lambda _event: None
    label: str = ""
    seconds: float = field(default=0.0)
    problem: str | None = None

    @property
    def name(self) -> str:
        return f"{self.function} {self.event_file}{' ' + self.label if self.label else ''}"


def _set_bearer(token: str) -> Callable[[dict[str, Any]], None]:
    def edit(event: dict[str, Any]) -> None:
        if "authorizationToken" in event:
            event["authorizationToken"] = f"Bearer {token}"
            return
        headers = event["headers"]
        name = "Authorization" if "Authorization" in headers else "authorization"
        headers[name] = f"Bearer {token}"
        # REST REQUEST events repeat every header here, and that is what the authorizer reads.
        if name in event.get("multiValueHeaders", {}):
            event["multiValueHeaders"][name] = [f"Bearer {token}"]

    return edit


def _set_route(route_key: str) -> Callable[[dict[str, Any]], None]:
    def edit(event: dict[str, Any]) -> None:
        method, _, path = route_key.partition(" ")
        event["routeKey"] = event["requestContext"]["routeKey"] = route_key
        event["rawPath"] = event["requestContext"]["http"]["path"] = path
        event["requestContext"]["http"]["method"] = method

    return edit


def _set_refresh(token: str) -> Callable[[dict[str, Any]], None]:
    def edit(event: dict[str, Any]) -> None:
        event["body"] = json.dumps({"refresh_token": token})

    return edit


def _set_body(body: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    def edit(event: dict[str, Any]) -> None:
        event["body"] = json.dumps(body)

    return edit


def _both(*edits: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
    def edit(event: dict[str, Any]) -> None:
        for each in edits:
            each(event)

    return edit


def _set_client(machine: Machine) -> Callable[[dict[str, Any]], None]:
    """client_secret_basic (RFC 6749 §2.3.1: each part form-encoded before base64)."""
    pair = f"{quote_plus(machine.client_id)}:{quote_plus(machine.secret)}".encode()

    def edit(event: dict[str, Any]) -> None:
        event["headers"]["authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")

    return edit


def _set_form(form: dict[str, str]) -> Callable[[dict[str, Any]], None]:
    def edit(event: dict[str, Any]) -> None:
        event["body"] = urlencode(form)
        event["isBase64Encoded"] = False

    return edit


def _oauth_cases(main: Session, machine: Machine | None) -> list[Case]:
    """The OAuth function's three events. With a registered client: a token with the
    client's scope, the main session's access token introspected as active, and the
    revocation event's placeholder token revoked (nothing to revoke: 200, RFC 7009). With
    none (the events' placeholder credentials): the one answer to an unknown client."""
    if machine is None:
        refused = _status(401, lambda b: b["error"] == "invalid_client")
        return [
            Case("OAuthFunction", event_file, refused)
            for event_file in ("oauth_token.json", "oauth_introspect.json", "oauth_revoke.json")
        ]
    client = _set_client(machine)
    return [
        Case(
            "OAuthFunction",
            "oauth_token.json",
            _status(
                200,
                lambda b: bool(b["access_token"]) and b["scope"] == machine.scope,
            ),
            _both(client, _set_form({"grant_type": "client_credentials"})),
        ),
        Case(
            "OAuthFunction",
            "oauth_introspect.json",
            _status(200, lambda b: b["active"] is True and b["sub"] == main.claims["sub"]),
            _both(client, _set_form({"token": main.access, "token_type_hint": "access_token"})),
        ),
        Case("OAuthFunction", "oauth_revoke.json", _status(200), client),
    ]


def _mail_outcome(outcome: str) -> Check:
    def check(answer: Any) -> str | None:
        if isinstance(answer, dict) and answer.get("outcome") == outcome:
            return None
        return f"expected the outcome {outcome!r}, got {str(answer)[:300]}"

    return check


def _set_authorizer_context(
    session: Session, revoke: str | None = None
) -> Callable[[dict[str, Any]], None]:
    def edit(event: dict[str, Any]) -> None:
        context = event["requestContext"]["authorizer"]["lambda"]
        for name in ("sub", "sid", "scope", "client_id", "exp", "username"):
            if name in session.claims:
                context[name] = session.claims[name]
        if revoke is not None:
            event["rawPath"] = f"/auth/sessions/{revoke}"
            event["requestContext"]["http"]["path"] = event["rawPath"]
            event["pathParameters"] = {"sid": revoke}

    return edit


def _set_recent_login(session: Session) -> Callable[[dict[str, Any]], None]:
    """The session's context, as its authorizer would write it for a password login
    made just now (the MFA routes ask how recent it is)."""
    own = _set_authorizer_context(session)

    def edit(event: dict[str, Any]) -> None:
        own(event)
        context = event["requestContext"]["authorizer"]["lambda"]
        context["amr"] = "pwd"
        context["auth_time"] = int(time.time())

    return edit


def _step_up_refused(answer: Any) -> str | None:
    return _status(401, lambda b: b["error"] == "insufficient_user_authentication")(answer)


# The sessions that events/revocation_feed_stream.json ends: two revoked (a logout, a
# refresh token replayed) and one deleted while live.
STREAM_ENDED_SIDS = ("pQ3vY8mZ1rT6wKc0nLs2Ug", "Hx7Jk2LmN4pQr6StU8vWyA", "Zc5Bd9Fg1Hj3Kl7Mn0Pq2Q")
FEED_SNAPSHOT_KEY = "revocations/snapshot.json"


def _set_stream_now(event: dict[str, Any]) -> None:
    """Move the stream records' times so that the first happens now. As written, the
    sessions ended a day ago and every token of theirs has expired since: the publisher
    rightly publishes nothing. Every number of a sessions item is an epoch time."""
    records = event["Records"]
    shift = int(time.time()) - int(records[0]["dynamodb"]["ApproximateCreationDateTime"])
    for record in records:
        change = record["dynamodb"]
        change["ApproximateCreationDateTime"] += shift
        for image in (change.get("NewImage"), change.get("OldImage")):
            for value in (image or {}).values():
                if "N" in value:
                    moved = float(value["N"]) + shift
                    value["N"] = f"{moved:.3f}" if "." in value["N"] else str(int(moved))


def _feed_published(read_feed: FeedReader | None) -> Check:
    """Every record ended a session whose tokens are alive: each is a new entry of the
    feed, in the snapshot the authorizers load (read back when ``read_feed`` is given)."""

    def check(answer: Any) -> str | None:
        count = len(STREAM_ENDED_SIDS)
        if not (
            isinstance(answer, dict)
            and answer.get("records") == count
            and answer.get("published") == count
            and isinstance(answer.get("seq"), int)
            and answer["seq"] >= 1
        ):
            return f"expected {count} records and {count} published, got {str(answer)[:300]}"
        if read_feed is None:
            return None
        body = read_feed(FEED_SNAPSHOT_KEY)
        if body is None:
            return f"nothing at {FEED_SNAPSHOT_KEY}"
        snapshot = json.loads(body)
        listed = {sid for sids in snapshot["revoked"].values() for sid in sids}
        missing = sorted(set(STREAM_ENDED_SIDS) - listed)
        return f"the snapshot lacks {missing}" if missing else None

    return check


# The user whose password the password-change case changes (seeded through
# LOCAL_USERS_FILE): never the demo user, whom later logins need.
CHANGER = {"username": "sam-local-changer", "password": "a-passphrase-about-to-change"}
CHANGER_NEW_PASSWORD = "plover-quartz-lantern-violet"


def cases(
    main: Session,
    other: Session,
    leaving: Session,
    changer: Session | None = None,
    machine: Machine | None = None,
    read_feed: FeedReader | None = None,
) -> list[Case]:
    """Every function with every event of events/ (a function's refusal as well where the
    event's placeholder is itself a refusal case). Ordered so that no case spends what a
    later one needs: the rotation runs last.

    The account functions: a password change of a user of its own (``changer``); a reset
    mail asked for (202 whoever asks; the job goes to the local stack's Lambda API); the
    placeholder tokens of the reset and verification events refused (a real one exists
    only in a mail); sign-up closed (the template's default); a mail job whose account
    does not exist, the one outcome that needs no mail sent.

    The OAuth function: with ``machine``, a client registered in the stack, its success
    cases (``_oauth_cases``); without, the events' placeholder client refused. A case's
    name is the same either way.

    The revocation feed's publisher: the stream batch of a logout, a replayed refresh
    token and a deleted session, moved to now, published; with ``read_feed``, found in
    the feed's snapshot too."""
    changer = changer or main
    return [
        Case("WellKnownFunction", "wellknown_jwks.json", _status(200, lambda b: bool(b["keys"]))),
        Case("WellKnownFunction", "wellknown_openid.json", _status(200, lambda b: "issuer" in b)),
        Case(
            "LoginFunction",
            "login.json",
            _status(200, lambda b: bool(b["access_token"] and b["refresh_token"])),
        ),
        Case("AuthorizerFunction", "authorizer.json", _allowed_simple, _set_bearer(main.access)),
        Case("AuthorizerFunction", "authorizer.json", _refused_simple, label="(placeholder)"),
        Case(
            "AuthorizerFunction",
            "authorizer_rest_request.json",
            _allowed_policy,
            _set_bearer(main.access),
        ),
        Case(
            "AuthorizerFunction",
            "authorizer_rest_token.json",
            _allowed_policy,
            _set_bearer(main.access),
        ),
        Case(
            "SessionAuthorizerFunction",
            "authorizer.json",
            _allowed_simple,
            _set_bearer(main.access),
        ),
        # ROUTE_SCOPES reaches the function from the template: the demo user's token
        # (scope "profile") lacks the example route's reports:read.
        Case(
            "AuthorizerFunction",
            "authorizer.json",
            _refused_simple,
            _both(_set_bearer(main.access), _set_route("GET /api/reports")),
            label="(scope missing)",
        ),
        Case(
            "MeFunction",
            "me.json",
            _status(200, lambda b: b["sub"] == main.claims["sub"]),
            _set_authorizer_context(main),
        ),
        # The event's context is a machine client's (contract §9), as its authorizer
        # would write it: no session, no username, sub = client_id.
        Case(
            "ReportsFunction",
            "reports.json",
            _status(
                200,
                lambda b: (
                    b == {"reports": [], "client_id": "reporting-client", "scope": "reports:read"}
                ),
            ),
        ),
        Case(
            "SessionsFunction",
            "sessions_list.json",
            _status(200, lambda b: main.claims["sid"] in json.dumps(b)),
            _set_authorizer_context(main),
        ),
        Case(
            "SessionsFunction",
            "sessions_revoke.json",
            _status(204),
            _set_authorizer_context(main, revoke=other.claims["sid"]),
        ),
        Case(
            "RefreshFunction",
            "refresh.json",
            _status(200, lambda b: b["refresh_token"] != main.refresh),
            _set_refresh(main.refresh),
        ),
        Case("LogoutFunction", "logout.json", _status(204), _set_refresh(leaving.refresh)),
        Case(
            "PasswordFunction",
            "password_change.json",
            _status(204),
            _both(
                _set_authorizer_context(changer),
                _set_body(
                    {
                        "current_password": CHANGER["password"],
                        "new_password": CHANGER_NEW_PASSWORD,
                    }
                ),
            ),
        ),
        Case("PasswordFunction", "password_forgot.json", _status(202, lambda b: b == {})),
        # The second step's placeholder token is refused; the MFA function seals a new
        # TOTP secret with KMS, refuses a wrong first code, and refuses turning TOTP off
        # or new recovery codes to a login without a second factor (RFC 9470).
        Case(
            "LoginFunction",
            "login_mfa.json",
            _status(401, lambda b: b["error"] == "invalid_grant"),
            label="(placeholder)",
        ),
        Case(
            "MfaFunction",
            "mfa_totp_start.json",
            _status(
                200,
                lambda b: (
                    b["otpauth_uri"].startswith("otpauth://totp/")
                    and b["otpauth_qr"].startswith("data:image/svg+xml;base64,")
                ),
            ),
            _set_recent_login(main),
        ),
        Case(
            "MfaFunction",
            "mfa_totp_confirm.json",
            _status(401, lambda b: b["error"] == "invalid_grant"),
            _both(_set_recent_login(main), _set_body({"code": "000000"})),
        ),
        Case("MfaFunction", "mfa_totp_delete.json", _step_up_refused, _set_recent_login(main)),
        Case("MfaFunction", "mfa_recovery_codes.json", _step_up_refused, _set_recent_login(main)),
        Case(
            "PasswordFunction",
            "password_reset.json",
            _status(401, lambda b: b["error"] == "invalid_grant"),
            label="(placeholder)",
        ),
        Case(
            "SignupFunction",
            "signup.json",
            _status(404, lambda b: b["error"] == "not_found"),
            label="(closed)",
        ),
        Case(
            "SignupFunction",
            "email_verify.json",
            _status(401, lambda b: b["error"] == "invalid_grant"),
            label="(placeholder)",
        ),
        Case("AccountMailFunction", "mail_job.json", _mail_outcome("no_account")),
        # Passkeys: options for the main session's user and for a sign-in (a challenge
        # each); the events' placeholder responses answer a challenge never issued.
        Case(
            "PasskeyFunction",
            "webauthn_register_options.json",
            _status(
                200,
                lambda b: (
                    b["publicKey"]["user"]["name"] == main.claims["username"]
                    and bool(b["challenge_id"])
                ),
            ),
            _set_recent_login(main),
        ),
        Case(
            "PasskeyFunction",
            "webauthn_register.json",
            _status(401, lambda b: b["error"] == "invalid_grant"),
            _set_authorizer_context(main),
            label="(placeholder)",
        ),
        Case(
            "PasskeyFunction",
            "webauthn_login_options.json",
            _status(200, lambda b: b["publicKey"]["allowCredentials"] == []),
        ),
        Case(
            "PasskeyFunction",
            "webauthn_login.json",
            _status(401, lambda b: b["error"] == "invalid_grant"),
            label="(placeholder)",
        ),
        *_oauth_cases(main, machine),
        Case(
            "RevocationFeedFunction",
            "revocation_feed_stream.json",
            _feed_published(read_feed),
            _set_stream_now,
        ),
        Case("KeyRotationFunction", "rotation_scheduled.json", _rotation_report),
    ]

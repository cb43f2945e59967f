"""Brute-force back-off, enumeration resistance of the lock, round trips, transparent rehash.

The core is driven with a frozen clock where exact back-off times matter; the handler is
driven over moto where the answers themselves matter. Time passes for the handler by moving
a stored `last_failed_at` into the past, never by patching the code.
"""

import json

import pytest
from argon2 import PasswordHasher
from support import DEMO_PASSWORD, Faults, call_hooks, invoke, with_body

from authcore import aws
from authcore.accounts.lockout import LockoutPolicy, unknown_account_key
from authcore.accounts.login import LoginService
from authcore.accounts.passwords import Passwords
from authcore.clock import FrozenClock
from authcore.errors import AccountLocked, InvalidGrant
from authcore.runtime import signing
from functions.login import app as login

WRONG = "wrong-password-123"
ISSUER = "https://auth.example.com"


class CountingPasswords(Passwords):
    """The real hasher, counting argon2 verifications (a burn is one as well)."""

    def __init__(self):
        super().__init__()
        self.verifications = 0

    def verify(self, stored_hash, password):
        self.verifications += 1
        return super().verify(stored_hash, password)


@pytest.fixture
def clock():
    return FrozenClock(1_800_000_000.0)


@pytest.fixture
def passwords():
    return CountingPasswords()


@pytest.fixture
def service(stack, clock, passwords):
    return LoginService(
        signing.settings(),
        users=signing.users(),
        passwords=passwords,
        sessions=signing.sessions(),
        issuer=signing.token_issuer(),
        clock=clock,
    )


@pytest.fixture
def dynamodb_calls(stack):
    """The DynamoDB operations the functions' client sends, in order, in a warm
    container (one that has read its signing key ring, which it does once a minute)."""
    signing.signer()
    calls = []

    call_hooks(aws.dynamodb()).append(lambda operation, _: calls.append(operation))
    return calls


def attempt(service, username="sam", password=WRONG):
    """The outcome of one login through the core: 'ok', 401 or (429, Retry-After)."""
    try:
        service.login(username, password, issuer=ISSUER)
    except InvalidGrant:
        return 401
    except AccountLocked as locked:
        return (429, locked.retry_after)
    return "ok"


def post_login(username="sam", password=WRONG):
    body = {"username": username, "password": password, "delivery": "body"}
    return invoke(login, with_body("login.json", body))


def item(stack, key):
    return stack.dynamodb.get_item(TableName=stack.users_table, Key={"username": {"S": key}}).get(
        "Item"
    )


def age_failures(stack, key, seconds):
    """Let `seconds` pass for a failure counter by moving its last failure back."""
    stack.dynamodb.update_item(
        TableName=stack.users_table,
        Key={"username": {"S": key}},
        UpdateExpression="SET last_failed_at = last_failed_at - :s",
        ExpressionAttributeValues={":s": {"N": str(seconds)}},
    )


def same_answer(a, b):
    return (a.status, a.body, a.headers, a.cookies) == (b.status, b.body, b.headers, b.cookies)


# ---------------------------------------------------------------- back-off


def test_five_failures_lock_for_a_minute_doubling_up_to_fifteen(demo_user, service, clock):
    assert [attempt(service) for _ in range(5)] == [401] * 5
    assert attempt(service, password=DEMO_PASSWORD) == (429, 60)
    clock.advance(59)
    assert attempt(service, password=DEMO_PASSWORD) == (429, 1)
    expected_locks = [120, 240, 480, 900, 900]  # failures 6..10; 960 is capped to 900
    lock = 60
    for expected in expected_locks:
        clock.advance(lock)
        assert attempt(service) == 401
        assert attempt(service) == (429, expected)
        lock = expected
    clock.advance(lock)
    assert attempt(service, password=DEMO_PASSWORD) == "ok"


def test_a_success_resets_the_count(demo_user, service, stack):
    assert [attempt(service) for _ in range(4)] == [401] * 4
    assert attempt(service, password=DEMO_PASSWORD) == "ok"
    assert "failed_logins" not in item(stack, "sam")
    assert [attempt(service) for _ in range(4)] == [401] * 4
    assert attempt(service, password=DEMO_PASSWORD) == "ok"


def test_while_locked_no_password_is_checked(demo_user, service, passwords):
    for _ in range(5):
        attempt(service)
    assert passwords.verifications == 5
    for password in (DEMO_PASSWORD, WRONG, "another-guess-456"):
        assert attempt(service, password=password) == (429, 60)
    assert passwords.verifications == 5


def test_guesses_during_a_lock_do_not_extend_it(demo_user, service, clock, stack):
    for _ in range(5):
        attempt(service)
    for _ in range(10):
        assert attempt(service)[0] == 429
    assert item(stack, "sam")["failed_logins"] == {"N": "5"}
    clock.advance(60)
    assert attempt(service, password=DEMO_PASSWORD) == "ok"


def test_failures_are_forgotten_a_day_after_the_last(demo_user, service, clock):
    for username in ("sam", "nobody"):
        assert [attempt(service, username) for _ in range(4)] == [401] * 4
        clock.advance(86_400)
        # The count restarts: four more failures still do not lock.
        assert [attempt(service, username) for _ in range(4)] == [401] * 4
        assert attempt(service, username) == 401
        assert attempt(service, username) == (429, 60)


def test_the_lock_is_per_canonical_account(demo_user, stack):
    for variant in ("Sam", "SAM", "sAm", "\uff33\uff21\uff2d", "sam"):
        assert post_login(variant).status == 401
    for variant in ("sam", "SAM", "\uff53\uff41\uff4d"):
        answer = post_login(variant, DEMO_PASSWORD)
        assert answer.status == 429
        assert answer.headers["Retry-After"] == "60"


def test_the_locked_answer(demo_user, stack):
    for _ in range(5):
        assert post_login().status == 401
    answer = post_login(password=DEMO_PASSWORD)
    assert answer.status == 429
    assert answer.body == {
        "error": "too_many_requests",
        "error_description": "Too many failed attempts; try again later.",
    }
    assert answer.headers["Retry-After"] == "60"
    assert answer.headers["Cache-Control"] == "no-store"
    assert answer.cookies == []
    age_failures(stack, "sam", 60)
    answer = post_login(password=DEMO_PASSWORD)
    assert answer.status == 200
    assert "failed_logins" not in item(stack, "sam")


def test_a_disabled_account_locks_even_with_its_right_password(stack):
    # Otherwise "never locks" would tell an attacker that this guess was right.
    stack.admin.create_user("dora", DEMO_PASSWORD)
    stack.admin.set_disabled("dora", True)
    assert [post_login("dora", DEMO_PASSWORD).status for _ in range(5)] == [401] * 5
    assert post_login("dora", DEMO_PASSWORD).status == 429


# ---------------------------------------------------------------- enumeration


def test_unknown_usernames_lock_exactly_like_accounts(demo_user, stack):
    stack.admin.create_user("dora", "dora-password-123")
    stack.admin.set_disabled("dora", True)
    sequences = {
        "wrong password": [post_login("sam") for _ in range(6)],
        "unknown user": [post_login("nobody") for _ in range(6)],
        "disabled user": [post_login("dora", "dora-password-123") for _ in range(6)],
    }
    reference = sequences["wrong password"]
    assert [a.status for a in reference] == [401] * 5 + [429]
    for name, answers in sequences.items():
        for mine, theirs in zip(answers, reference, strict=True):
            assert same_answer(mine, theirs), name


def test_unknown_usernames_count_per_canonical_name(stack):
    for variant in ("Nobody", "NOBODY", "nobody", "\uff2e\uff4f\uff42\uff4f\uff44\uff59", "noBody"):
        assert post_login(variant).status == 401
    assert post_login("nobody").status == 429


def test_an_unknown_username_is_stored_only_as_an_expiring_digest(stack):
    typed = "correct-horse-battery-staple"  # a password typed into the username field
    assert post_login(typed).status == 401
    items = stack.dynamodb.scan(TableName=stack.users_table)["Items"]
    assert len(items) == 1
    (counter,) = items
    assert counter["username"]["S"] == unknown_account_key(typed, None)
    assert counter["username"]["S"].startswith("#failures#")
    assert set(counter) == {"username", "failed_logins", "last_failed_at", "expires_at"}
    assert typed not in json.dumps(counter)
    lifetime = int(counter["expires_at"]["N"]) - float(counter["last_failed_at"]["N"])
    assert lifetime == pytest.approx(LockoutPolicy().item_lifetime(), abs=1)
    # No account came into being.
    assert stack.admin.users.get(typed) is None


def test_the_digest_is_keyed_by_lockout_key(stack, monkeypatch):
    monkeypatch.setenv("LOCKOUT_KEY", "k" * 32)
    signing.reset()
    assert post_login("nobody").status == 401
    (counter,) = stack.dynamodb.scan(TableName=stack.users_table)["Items"]
    assert counter["username"]["S"] == unknown_account_key("nobody", b"k" * 32)
    assert counter["username"]["S"] != unknown_account_key("nobody", None)


def test_a_failure_for_a_vanished_account_creates_no_stub(demo_user, service, stack):
    record = signing.users().find_for_login("sam", unknown_account_key("sam", None))
    stack.dynamodb.delete_item(TableName=stack.users_table, Key={"username": {"S": "sam"}})
    counter = record.counter(trusted_device=False)
    count = signing.users().count_attempt(counter, now=1_800_000_000.0, policy=LockoutPolicy())
    assert count == 0
    assert item(stack, "sam") is None


def test_a_restart_racing_another_failure_counts_both(demo_user, stack):
    users, policy = signing.users(), LockoutPolicy()
    old = 1_800_000_000.0
    for _ in range(3):
        record = users.find_for_login("sam", "#failures#x")
        users.count_attempt(record.counter(trusted_device=False), now=old, policy=policy)
    now = old + policy.forget_after_seconds + 5
    stale = users.find_for_login("sam", "#failures#x").counter(trusted_device=False)
    assert stale.failures.is_stale(policy, now)
    assert users.count_attempt(stale, now=now, policy=policy) == 1
    # A second attempt that read the same stale count must add to the restart, not redo it.
    assert users.count_attempt(stale, now=now, policy=policy) == 2


# ---------------------------------------------------------------- round trips and work


def test_a_clean_successful_login_costs_one_read_and_two_writes(demo_user, dynamodb_calls):
    # The attempt is counted before the password is checked (issue 14, item 1); the
    # reset rides in the session's transaction.
    assert post_login(password=DEMO_PASSWORD).status == 200
    assert dynamodb_calls == ["TransactGetItems", "UpdateItem", "TransactWriteItems"]


def test_a_success_resets_the_count_in_the_session_write(demo_user, dynamodb_calls, stack):
    post_login()
    post_login()
    dynamodb_calls.clear()
    assert post_login(password=DEMO_PASSWORD).status == 200
    assert dynamodb_calls == ["TransactGetItems", "UpdateItem", "TransactWriteItems"]
    assert "failed_logins" not in item(stack, "sam")


def test_unknown_user_and_wrong_password_do_the_same_work(
    demo_user, service, passwords, dynamodb_calls
):
    work = {}
    for username in ("sam", "nobody"):
        dynamodb_calls.clear()
        passwords.verifications = 0
        assert attempt(service, username) == 401
        work[username] = (list(dynamodb_calls), passwords.verifications)
    assert work["sam"] == work["nobody"] == (["TransactGetItems", "UpdateItem"], 1)


def test_a_locked_attempt_costs_one_read_and_no_hash(demo_user, service, passwords, dynamodb_calls):
    for username in ("sam", "nobody"):
        for _ in range(5):
            attempt(service, username)
        dynamodb_calls.clear()
        passwords.verifications = 0
        assert attempt(service, username)[0] == 429
        assert (dynamodb_calls, passwords.verifications) == (["TransactGetItems"], 0)


# ---------------------------------------------------------------- transparent rehash


def cheap_hash(password):
    """A hash as an older release (or a cheaper configuration) would have stored it."""
    return PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash(password)


def test_a_hash_with_older_parameters_is_upgraded_at_the_next_login(stack, dynamodb_calls):
    stack.admin.create_user("sam", DEMO_PASSWORD, "profile")
    old = cheap_hash(DEMO_PASSWORD)
    stack.admin.users.set_password_hash("sam", old, now=0)
    dynamodb_calls.clear()
    assert post_login(password=DEMO_PASSWORD).status == 200
    assert dynamodb_calls == [
        "TransactGetItems",
        "UpdateItem",
        "UpdateItem",
        "TransactWriteItems",
    ]
    stored = item(stack, "sam")["password_hash"]["S"]
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert Passwords().verify(stored, DEMO_PASSWORD)
    # Upgraded once: the next login writes only the attempt count.
    dynamodb_calls.clear()
    assert post_login(password=DEMO_PASSWORD).status == 200
    assert dynamodb_calls == ["TransactGetItems", "UpdateItem", "TransactWriteItems"]


def test_a_wrong_password_never_rehashes(stack):
    stack.admin.create_user("sam", DEMO_PASSWORD)
    old = cheap_hash(DEMO_PASSWORD)
    stack.admin.users.set_password_hash("sam", old, now=0)
    assert post_login().status == 401
    assert item(stack, "sam")["password_hash"]["S"] == old


def test_raising_the_configured_cost_rehashes(demo_user, stack, monkeypatch):
    monkeypatch.setenv("ARGON2_TIME_COST", "3")
    signing.reset()
    assert post_login(password=DEMO_PASSWORD).status == 200
    assert item(stack, "sam")["password_hash"]["S"].startswith("$argon2id$v=19$m=19456,t=3,p=1$")


def test_a_legacy_short_password_keeps_working_and_is_rehashed(stack):
    stack.admin.create_user("sam", DEMO_PASSWORD)
    stack.admin.users.set_password_hash("sam", cheap_hash("short"), now=0)
    assert post_login(password="short").status == 200
    stored = item(stack, "sam")["password_hash"]["S"]
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert post_login(password="short").status == 200


def test_a_rehash_never_overwrites_a_password_changed_meanwhile(stack):
    stack.admin.create_user("sam", DEMO_PASSWORD)
    stack.admin.users.set_password_hash("sam", cheap_hash(DEMO_PASSWORD), now=0)
    users = signing.users()
    read_before_the_change = users.get("sam")
    stack.admin.set_password("sam", "the-admins-new-password")
    changed = item(stack, "sam")["password_hash"]["S"]
    users.after_login(
        read_before_the_change, clear_failures=False, new_hash="$argon2id$stale", now=1
    )
    assert item(stack, "sam")["password_hash"]["S"] == changed


# ---------------------------------------------------------------- metrics


def emitted_metrics(output):
    names = []
    for line in output.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            document = json.loads(line)
            for directive in document["_aws"]["CloudWatchMetrics"]:
                names += [m["Name"] for m in directive["Metrics"] if document.get(m["Name"])]
    return names


def test_login_metrics(demo_user, capsys):
    capsys.readouterr()
    post_login(password=DEMO_PASSWORD)
    assert emitted_metrics(capsys.readouterr().out) == ["LoginSucceeded"]
    for _ in range(4):
        post_login()
    assert emitted_metrics(capsys.readouterr().out) == ["LoginFailed"] * 4
    post_login()
    assert sorted(emitted_metrics(capsys.readouterr().out)) == [
        "LoginFailed",
        "LoginLockoutStarted",
    ]
    post_login(password=DEMO_PASSWORD)
    post_login("nobody")
    assert emitted_metrics(capsys.readouterr().out) == ["LoginLocked", "LoginFailed"]


# ---------------------------------------------------------------- contention


def test_a_read_refused_by_a_concurrent_write_is_retried(demo_user):
    # DynamoDB refuses a transactional read while a plain write to one of its items is in
    # flight: what a burst of guesses at one account produces, for a few milliseconds.
    attempts = []
    client = aws.dynamodb()
    # Registered before the fault: called first, so every attempt counts.
    call_hooks(client).append(
        lambda operation, _: attempts.append(1) if operation == "TransactGetItems" else None
    )
    Faults(client).fail("TransactGetItems", "TransactionCanceledException", times=2)
    assert post_login(password=DEMO_PASSWORD).status == 200
    assert len(attempts) == 3


def test_a_read_that_keeps_conflicting_is_a_503(demo_user):
    Faults(aws.dynamodb()).fail("TransactGetItems", "TransactionCanceledException", times=3)
    answer = post_login(password=DEMO_PASSWORD)
    assert answer.status == 503
    assert answer.headers["Retry-After"] == "1"


# ---------------------------------------------------------------- races with the admin


@pytest.mark.parametrize("change", ["disable", "set_password"])
def test_a_login_racing_a_disable_or_reset_leaves_no_live_session(demo_user, stack, change):
    """The account changes between the password check and the session write: the
    transaction's condition on the user refuses the write, the login is a 401 and
    nothing is left for the admin's revoke-all to miss."""

    def change_account(operation, _):
        if operation != "TransactWriteItems":
            return
        if change == "disable":
            stack.admin.set_disabled("sam", True)
        else:
            stack.admin.set_password("sam", "a-brand-new-password")

    call_hooks(aws.dynamodb()).insert(0, change_account)
    answer = post_login(password=DEMO_PASSWORD)
    assert answer.status == 401
    assert answer.body["error"] == "invalid_grant"
    assert stack.dynamodb.scan(TableName=stack.sessions_table)["Count"] == 0

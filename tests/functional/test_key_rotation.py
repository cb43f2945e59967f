"""The signing-key lifecycle, walked with a frozen clock, for both backends.

At every step tokens are issued with the current key and verified against the
published JWKS (through the authorizer's own key ring and verifier): no valid
token is ever rejected, a token from a retired or revoked key always is, and
the JWKS never carries private members.
"""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws
from support import Faults

from authcore.clock import FrozenClock
from authcore.errors import InvalidToken, TemporarilyUnavailable
from authcore.keys.lifecycle import CurrentSigner, KeyLifecycle, RotationPolicy
from authcore.keys.material import STACK_TAG, KmsMaterial, SecretsMaterial
from authcore.keys.publish import published_jwks
from authcore.keys.ring import KeyRing
from authcore.keys.table import KeyTable
from authcore.tokens.issue import Principal, issue_access_token
from authcore.tokens.verify import AccessTokenVerifier
from infra import template

ISSUER = "https://auth.example.com"
DAY = 86_400
PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}


class Ring:
    def __init__(self, backend: str, alg: str) -> None:
        self.clock = FrozenClock(1_800_000_000)
        db = boto3.client("dynamodb", region_name="us-east-1")
        db.create_table(**template.table_definition("KeysTable", "keys"))
        self.kms = boto3.client("kms", region_name="us-east-1")
        if backend == "kms":
            self.material = KmsMaterial(self.kms, stack="test-stack")
        else:
            secrets = boto3.client("secretsmanager", region_name="us-east-1")
            secrets.create_secret(Name="signing-keys", SecretString='{"keys": []}')
            self.secrets = secrets
            self.material = SecretsMaterial(secrets, "signing-keys", clock=self.clock)
        self.table = KeyTable(db, "keys")
        self.policy = RotationPolicy.for_tokens(access_ttl=900, leeway=60, interval=30 * DAY)
        self.lifecycle = KeyLifecycle(
            self.table, self.material, alg=alg, policy=self.policy, clock=self.clock
        )
        self.signer = CurrentSigner(
            self.table, {self.material.backend: self.material}, clock=self.clock
        )
        # The authorizer's view: the JWKS, reloaded on unknown kid and when stale.
        self.ring = KeyRing(self.jwks, clock=self.clock, max_age=300)
        self.verifier = AccessTokenVerifier(
            self.ring.get, issuer=ISSUER, audience="api", max_lifetime=900, clock=self.clock
        )

    def jwks(self):
        document = published_jwks(self.table.load())
        for key in document["keys"]:
            assert not PRIVATE_MEMBERS & key.keys()
        return document

    def issue(self) -> str:
        return issue_access_token(
            self.signer.get(),
            Principal("user-1", "sam", "profile"),
            sid="sid-1",
            issuer=ISSUER,
            audience="api",
            client_id="web",
            now=self.clock.now,
            ttl=900,
        )

    def states(self):
        return {r.kid: r.state for r in self.table.load()}

    def valid(self, token: str) -> bool:
        try:
            self.verifier.verify(token)
        except InvalidToken:
            return False
        return True


@pytest.fixture(params=[("kms", "ES256"), ("kms", "RS256"), ("secretsmanager", "ES256")])
def ring(request):
    with mock_aws():
        yield Ring(*request.param)


def test_first_run_bootstraps_a_current_and_a_pending_key(ring):
    report = ring.lifecycle.rotate()
    assert len(report.created) == 2
    assert sorted(ring.states().values()) == ["current", "pending"]
    assert ring.valid(ring.issue())
    # Running it again changes nothing until the interval has passed.
    assert ring.lifecycle.rotate().created == []
    assert len(ring.states()) == 2


# Steps (seconds) that land on every boundary of the policy: the signers' cache,
# the access lifetime, the retention of previous keys, the publication lead, the
# interval. Summed they cover more than one rotation interval.
STEPS = [1, 59, 61, 600, 899, 901, 961, 1021, 7200, 7561, DAY, 28 * DAY, DAY, 600, 61, 900, 1100]


def test_three_whole_cycles_never_reject_a_valid_token(ring):
    ring.lifecycle.rotate()
    live: list[tuple[str, str, float]] = []  # (token, kid, exp)
    promotions = 0
    for _ in range(3):
        for step in STEPS:
            ring.clock.advance(step)
            promotions += ring.lifecycle.rotate().promoted is not None
            states = ring.states()
            live = [(t, kid, exp) for t, kid, exp in live if exp > ring.clock.now]
            for token, kid, _ in live:
                assert ring.valid(token), f"a live token of a {states[kid]} key was rejected"
            signer = ring.signer.get()
            assert states[signer.kid] in ("current", "previous")
            token = ring.issue()
            assert ring.valid(token)
            live.append((token, signer.kid, ring.clock.now + 900))
    assert promotions == 3
    kinds = sorted(ring.states().values())
    assert (kinds.count("current"), kinds.count("pending")) == (1, 1)
    assert kinds.count("retired") >= 2


def test_promotion_waits_for_the_publication_lead_and_retirement_for_the_retention(ring):
    ring.lifecycle.rotate()
    first = ring.signer.get().kid
    old_token = ring.issue()
    ring.clock.advance(30 * DAY)
    report = ring.lifecycle.rotate()
    assert report.promoted is not None
    assert ring.states()[first] == "previous"
    assert ring.states()[report.promoted] == "current"
    # The signers' cache may still sign with the old key for up to a minute.
    ring.clock.advance(61)
    assert ring.signer.get().kid == report.promoted
    assert ring.valid(ring.issue())
    # The previous key stays published while tokens it signed can still be valid...
    ring.clock.advance(ring.policy.retention - 62)
    ring.lifecycle.rotate()
    assert ring.states()[first] == "previous"
    # ...and is retired afterwards: its tokens (long expired by then) fail.
    ring.clock.advance(2)
    assert first in ring.lifecycle.rotate().retired
    assert ring.states()[first] == "retired"
    ring.clock.advance(301)  # the authorizer's ring reloads when stale
    assert not ring.valid(old_token)
    assert first not in {k["kid"] for k in ring.jwks()["keys"]}


def test_pending_is_not_promoted_before_the_lead(ring):
    ring.lifecycle.rotate()
    first = ring.signer.get().kid
    pending = next(k for k, s in ring.states().items() if s == "pending")
    ring.lifecycle.revoke(pending)  # a fresh pending is created now
    ring.clock.advance(30 * DAY - ring.policy.publish_lead + 10)
    ring.clock.advance(ring.policy.publish_lead - 20)
    assert ring.lifecycle.rotate().promoted is None
    assert ring.states()[first] == "current"


def test_emergency_revoke_kills_the_current_key_at_once(ring):
    ring.lifecycle.rotate()
    compromised = ring.signer.get().kid
    token = ring.issue()
    assert ring.valid(token)
    report = ring.lifecycle.revoke(compromised)
    assert report.retired == [compromised]
    assert report.promoted is not None
    states = ring.states()
    assert states[compromised] == "retired"
    assert states[report.promoted] == "current"
    assert list(states.values()).count("pending") == 1
    ring.clock.advance(301)
    assert not ring.valid(token), "a token of the revoked key passed after the ring reload"
    ring.clock.advance(60)
    assert ring.signer.get().kid == report.promoted
    assert ring.valid(ring.issue())


def test_revoked_private_key_is_destroyed(ring):
    ring.lifecycle.rotate()
    record = next(r for r in ring.table.load() if r.state == "current")
    ring.lifecycle.revoke(record.kid)
    if ring.material.backend == "kms":
        state = ring.kms.describe_key(KeyId=record.ref)["KeyMetadata"]["KeyState"]
        assert state == "PendingDeletion"
    else:
        stored = ring.secrets.get_secret_value(SecretId="signing-keys")["SecretString"]
        assert record.kid not in stored


def test_kms_keys_carry_the_stack_tag():
    with mock_aws():
        ring = Ring("kms", "ES256")
        ring.lifecycle.rotate()
        for record in ring.table.load():
            tags = ring.kms.list_resource_tags(KeyId=record.ref)["Tags"]
            assert {"TagKey": STACK_TAG, "TagValue": "test-stack"} in tags


def test_no_current_key_is_a_503(ring):
    with pytest.raises(TemporarilyUnavailable):
        ring.signer.get()


def test_failed_transition_leaves_the_ring_unchanged(ring):
    ring.lifecycle.rotate()
    before = ring.states()
    ring.clock.advance(30 * DAY)
    Faults(ring.table._db).fail("TransactWriteItems", "TransactionCanceledException")
    with pytest.raises(TemporarilyUnavailable):
        ring.lifecycle.rotate()
    assert ring.states() == before

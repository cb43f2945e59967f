"""The stateless authorizer's container (authcore.runtime.verifying): its first request
reads the keys and polls the revocation feed at once, and waits for both before it
answers."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from jwt_forge import AUDIENCE, ISSUER, NOW

from authcore.clock import FrozenClock
from authcore.errors import ConfigError, KeySourceError, KeysUnconfirmed, RevocationFeedStale
from authcore.keys.signers import LocalSigner, public_jwk
from authcore.revocation import source
from authcore.runtime import verifying
from authcore.tokens.issue import Principal, issue_access_token

# Longer than any request here can take: a read that waits this long for the other
# waited in vain (they ran one after the other).
OVERLAP_WAIT_SECONDS = 5.0


@pytest.fixture
def signer() -> LocalSigner:
    return LocalSigner.generate("key-1")


@pytest.fixture
def token(signer: LocalSigner) -> str:
    return issue_access_token(
        signer,
        Principal("user-1", "sam", "profile"),
        sid="sid-1",
        issuer=ISSUER,
        audience=AUDIENCE,
        client_id="web",
        now=NOW,
        ttl=900,
    )


@pytest.fixture
def fed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keys from a JWKS URL, the feed from an HTTPS base: both fetches faked below."""
    for name in ("KEYS_TABLE", "REVOCATION_FEED_BUCKET", "AUTHORIZER_MODE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ISSUER", ISSUER)
    monkeypatch.setenv("AUDIENCE", AUDIENCE)
    monkeypatch.setenv("JWKS_URL", f"{ISSUER}/.well-known/jwks.json")
    monkeypatch.setenv("REVOCATION_FEED_URL", "https://feed.example.com/revocations")
    monkeypatch.setenv("REVOCATION_POLL_SECONDS", "10")


def fake_reads(
    monkeypatch: pytest.MonkeyPatch, jwks: Any, *, keys_fail: bool = False
) -> list[tuple[str, bool]]:
    """Each read notes whether the other had started when it ran; the key read waits
    for the feed's request to arrive, which only a poll running meanwhile can send."""
    seen: list[tuple[str, bool]] = []
    feed_asked, keys_read = threading.Event(), threading.Event()

    def fetch_feed(self: object, key: str, etag: str | None) -> source.Fetched:
        seen.append(("feed", keys_read.is_set()))  # read first: setting lets the keys go on
        feed_asked.set()
        return source.Fetched(404, b"", None)  # nothing published yet

    def fetch_keys(url: str) -> Any:
        seen.append(("keys", feed_asked.wait(OVERLAP_WAIT_SECONDS)))
        keys_read.set()
        if keys_fail:
            raise KeySourceError("unreachable")
        return jwks

    monkeypatch.setattr(source.HttpFeedSource, "fetch", fetch_feed)
    monkeypatch.setattr(verifying, "fetch_jwks", fetch_keys)
    return seen


def test_the_first_request_polls_the_feed_while_it_reads_the_keys(
    fed: None, monkeypatch: pytest.MonkeyPatch, signer: LocalSigner, token: str
) -> None:
    seen = fake_reads(monkeypatch, {"keys": [public_jwk(signer.public_key(), "key-1", "ES256")]})
    runtime = verifying.VerifyingRuntime(clock=FrozenClock(NOW))
    claims = runtime.authorize(token, ISSUER)
    assert claims["sid"] == "sid-1"
    # The key read found the feed's request already sent, and that request did not wait
    # for the keys.
    assert sorted(seen) == [("feed", False), ("keys", True)]
    feed = runtime.revocation_feed()
    assert feed is not None
    # Polled once, before the answer: the check that followed had nothing left to poll.
    assert (feed.polls, feed.failures, feed.confirmed_at) == (1, 0, NOW)
    assert [t.name for t in threading.enumerate()].count("revocation-feed-poll") == 0


def test_a_failed_key_read_still_waits_for_the_poll_and_the_next_request_polls_no_more(
    fed: None, monkeypatch: pytest.MonkeyPatch, signer: LocalSigner, token: str
) -> None:
    seen = fake_reads(monkeypatch, {"keys": []}, keys_fail=True)
    runtime = verifying.VerifyingRuntime(clock=FrozenClock(NOW))
    with pytest.raises(KeysUnconfirmed):
        runtime.authorize(token, ISSUER)
    assert sorted(seen) == [("feed", False), ("keys", True)]
    feed = runtime.revocation_feed()
    assert feed is not None
    # The poll ran to its end before the refusal left: no thread outlives the request.
    assert feed.polls == 1
    assert [t.name for t in threading.enumerate()].count("revocation-feed-poll") == 0
    # The next request is refused by the same ring (which retries on its own schedule);
    # the feed is not due, so it is not asked.
    seen.clear()
    with pytest.raises(KeysUnconfirmed):
        runtime.authorize(token, ISSUER)
    assert "feed" not in dict(seen)
    assert feed.polls == 1


def test_a_feed_on_but_nowhere_still_refuses_after_the_keys_are_read(
    fed: None, monkeypatch: pytest.MonkeyPatch, signer: LocalSigner, token: str
) -> None:
    monkeypatch.delenv("REVOCATION_FEED_URL")
    jwks = {"keys": [public_jwk(signer.public_key(), "key-1", "ES256")]}
    monkeypatch.setattr(verifying, "fetch_jwks", lambda url: jwks)
    runtime = verifying.VerifyingRuntime(clock=FrozenClock(NOW))
    with pytest.raises(ConfigError, match="REVOCATION_FEED_BUCKET"):
        runtime.authorize(token, ISSUER)
    assert runtime.key_ring.cache_info().currsize == 1


def test_a_first_poll_that_fails_slowly_is_not_made_again_by_the_same_request(
    fed: None, monkeypatch: pytest.MonkeyPatch, signer: LocalSigner, token: str
) -> None:
    """A poll that times out fails a second after it started: its retry counts from then,
    or the request that ran it would poll again before answering, and wait twice."""
    clock = FrozenClock(NOW)
    fetches = []

    def timing_out(self: object, key: str, etag: str | None) -> source.Fetched:
        fetches.append(key)
        clock.advance(1.0)  # the source's timeout
        raise source.FeedUnavailable("TimeoutError")

    jwks = {"keys": [public_jwk(signer.public_key(), "key-1", "ES256")]}
    monkeypatch.setattr(source.HttpFeedSource, "fetch", timing_out)
    monkeypatch.setattr(verifying, "fetch_jwks", lambda url: jwks)
    runtime = verifying.VerifyingRuntime(clock=clock)
    with pytest.raises(RevocationFeedStale):
        runtime.authorize(token, ISSUER)
    assert len(fetches) == 1

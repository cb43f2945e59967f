"""The wiring of the authorizer, built once per container: settings, the one key
ring, a few verifiers over it, and in session mode the session check.

Light on purpose (the authorizer imports it before every protected route): the
standard library, ``cryptography`` and the light modules of ``authcore`` only.
The keys table source and the session check are imported when first needed; neither
mode loads an AWS SDK (their reads are signed by hand, ``authcore.awsjson``).

Everything hangs off one ``VerifyingRuntime`` object, not module globals: two
copies of a handler module (tests and benchmarks run two authorizer "functions"
in one process) hold a container each, and ``reset`` starts a new container
without reaching into other modules.
"""

from __future__ import annotations

import threading
from functools import cache, lru_cache
from typing import TYPE_CHECKING, Any

from authcore.clock import Clock, system_clock
from authcore.config import Settings
from authcore.errors import ConfigError
from authcore.keys.ring import RELOAD_INTERVAL_SECONDS, KeyRing, fetch_jwks
from authcore.tokens.claims import AccessClaims
from authcore.tokens.verify import AccessTokenVerifier

if TYPE_CHECKING:
    from authcore.revocation.feed import RevocationFeed
    from authcore.sessions.check import SessionChecker

# Issuers differ only by the request's host (IssuerUrl empty): each verifier holds
# just its issuer and a cache of verified tokens, over the one shared ring, so a
# spray of new hosts costs a few microseconds each and never a key read.
VERIFIERS_PER_CONTAINER = 8


class VerifyingRuntime:
    """One authorizer container. ``settings``, ``key_ring``, ``verifier_for`` and
    ``session_checker`` are built on first use and kept (``functools`` caches, so
    ``cache_info()`` tells what a container holds)."""

    def __init__(self, clock: Clock = system_clock) -> None:
        self._clock = clock
        # Without arguments, one entry each: unbounded caches, the cheapest to hit.
        self.settings = cache(self._load_settings)
        self.key_ring = cache(self._build_key_ring)
        self.verifier_for = lru_cache(maxsize=VERIFIERS_PER_CONTAINER)(self._build_verifier)
        self.session_checker = cache(self._build_session_checker)
        self.revocation_feed = cache(self._build_revocation_feed)

    def reset(self, clock: Clock = system_clock) -> None:
        """Forget configuration, keys and the session check (and their DynamoDB connection,
        unless another client of the endpoint holds it too): a new container (tests,
        benchmarks), running on ``clock``."""
        self._clock = clock
        for cached in (
            self.settings,
            self.key_ring,
            self.verifier_for,
            self.session_checker,
            self.revocation_feed,
        ):
            cached.cache_clear()

    def authorize(self, token: str, issuer: str) -> AccessClaims:
        """The claims of a token this authorizer accepts: verified, and of a live
        session in session mode, or of a session the revocation feed does not name."""
        claims = self.verifier_for(issuer).verify(token)
        checker = self.session_checker()
        if checker is not None:
            checker.check(claims)
        feed = self.revocation_feed()
        if feed is not None:
            feed.check(claims)
        return claims

    def _load_settings(self) -> Settings:
        return Settings.from_env()

    def _build_key_ring(self) -> KeyRing:
        """One ring per container, whatever the request's host: with ``IssuerUrl``
        empty behind a wildcard domain every new ``Host`` is a new issuer, and a ring
        per issuer would let anyone turn each request into a key read."""
        config = self.settings()
        source: Any
        if config.jwks_url:
            jwks_url = config.jwks_url
            source = lambda: fetch_jwks(jwks_url)  # noqa: E731
        elif config.keys_table:
            from authcore.keys.source import KeysTableSource

            source = KeysTableSource(config.keys_table)
        elif config.issuer:
            jwks_url = f"{config.issuer}/.well-known/jwks.json"
            source = lambda: fetch_jwks(jwks_url)  # noqa: E731
        else:
            raise ConfigError("set KEYS_TABLE (or JWKS_URL, or ISSUER) to tell where the keys are")
        ring = KeyRing(
            source,
            clock=self._clock,
            max_age=config.key_ring_max_age,
            reload_interval=min(RELOAD_INTERVAL_SECONDS, config.key_ring_max_age),
        )
        poller = self._first_feed_poll()
        try:
            ring.load()
        finally:
            if poller is not None:
                poller.join()
        return ring

    def _first_feed_poll(self) -> threading.Thread | None:
        """The revocation feed's first poll, started in a thread while the keys are read:
        a container's first request waits for the longer of its two reads (each a TLS
        connection and a request to AWS), not for their sum. Joined before the ring is
        used, so every request still finds the feed polled, as ``authorize`` needs."""
        try:
            feed = self.revocation_feed()
        except ConfigError:
            return None  # authorize() refuses with it, after the token's own checks
        now = self._clock()
        if feed is None or not feed.due(now):
            return None
        # ``threading`` costs nothing here: ``logging`` has imported it.
        poller = threading.Thread(target=feed.poll, args=(now,), name="revocation-feed-poll")
        try:
            poller.start()
        except RuntimeError:  # no thread to be had: authorize() polls after the keys
            return None
        return poller

    def _build_verifier(self, issuer: str) -> AccessTokenVerifier:
        config = self.settings()
        return AccessTokenVerifier(
            self.key_ring(),
            issuer=issuer,
            audience=config.audience,
            max_lifetime=config.access_ttl,
            leeway=config.leeway,
            clock=self._clock,
        )

    def _build_session_checker(self) -> SessionChecker | None:
        """The session check in session mode, else None. Imported and built on first
        use, so the stateless mode never loads it."""
        config = self.settings()
        if config.authorizer_mode != "session":
            return None
        from authcore.sessions import check as session_check

        reader = session_check.dynamo_reader(config.sessions_table_name)
        return session_check.SessionChecker(
            reader, max_lag=config.revocation_max_lag, leeway=config.leeway, clock=self._clock
        )

    def _build_revocation_feed(self) -> RevocationFeed | None:
        """The feed in stateless mode unless REVOCATION_POLL_SECONDS is 0 (session mode
        reads the session itself, sooner). A feed that is on but not located is a
        configuration error, which refuses every request: deny by default."""
        config = self.settings()
        if config.authorizer_mode == "session" or config.revocation_poll_seconds == 0:
            return None
        from authcore.revocation.feed import RevocationFeed
        from authcore.revocation.source import FeedSource, HttpFeedSource, S3FeedSource

        source: FeedSource
        if config.revocation_feed_bucket:
            source = S3FeedSource(config.revocation_feed_bucket)
        elif config.revocation_feed_url:
            source = HttpFeedSource(config.revocation_feed_url)
        else:
            raise ConfigError(
                "set REVOCATION_FEED_BUCKET (or REVOCATION_FEED_URL), "
                "or REVOCATION_POLL_SECONDS=0 to turn the feed off"
            )
        return RevocationFeed(source, interval=config.revocation_poll_seconds, clock=self._clock)

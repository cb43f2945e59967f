import pytest

from authcore.config import Settings
from authcore.errors import ConfigError


def test_defaults_follow_the_contract():
    s = Settings.from_env({})
    assert (s.access_ttl, s.session_ttl, s.session_idle_ttl, s.reuse_grace) == (
        900,
        2_592_000,
        604_800,
        10,
    )
    assert s.leeway <= 60
    assert s.allowed_origins == frozenset()


def test_every_bad_variable_is_named_at_once():
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(
            {"ACCESS_TOKEN_TTL_SECONDS": "soon", "SESSION_TTL_SECONDS": "1", "ISSUER": "ftp://x"}
        )
    message = str(caught.value)
    assert "ACCESS_TOKEN_TTL_SECONDS" in message
    assert "SESSION_TTL_SECONDS" in message
    assert "ISSUER" in message


def test_argon2_parameters_cannot_go_below_owasp():
    with pytest.raises(ConfigError, match="ARGON2_MEMORY_KIB"):
        Settings.from_env({"ARGON2_MEMORY_KIB": "1024"})


def test_leeway_is_capped_at_sixty_seconds():
    with pytest.raises(ConfigError, match="CLOCK_LEEWAY_SECONDS"):
        Settings.from_env({"CLOCK_LEEWAY_SECONDS": "300"})


def test_allowed_origins_are_split_exactly():
    s = Settings.from_env({"ALLOWED_ORIGINS": "https://a.example, https://b.example,"})
    assert s.allowed_origins == {"https://a.example", "https://b.example"}


def test_issuer_is_configured_or_derived_from_the_api_domain():
    assert Settings.from_env({"ISSUER": "https://auth.example.com"}).issuer_for("x") == (
        "https://auth.example.com"
    )
    assert Settings.from_env({}).issuer_for("abc.execute-api.eu-west-1.amazonaws.com") == (
        "https://abc.execute-api.eu-west-1.amazonaws.com"
    )
    with pytest.raises(ConfigError):
        Settings.from_env({}).issuer_for(None)


def test_edge_origin_secret_is_long_and_never_printed():
    secret = "e" * 32
    settings = Settings.from_env({"EDGE_ORIGIN_SECRET": secret})
    assert settings.edge_origin_secret == secret
    assert secret not in repr(settings)
    assert Settings.from_env({}).edge_origin_secret is None
    with pytest.raises(ConfigError, match="EDGE_ORIGIN_SECRET"):
        Settings.from_env({"EDGE_ORIGIN_SECRET": "e" * 31})


def test_the_key_caches_default_to_the_revocation_arithmetic_and_only_shorten():
    from authcore.keys.lifecycle import SIGNER_CACHE_SECONDS
    from authcore.keys.publish import JWKS_CACHE_SECONDS
    from authcore.keys.ring import MAX_RING_AGE_SECONDS

    defaults = Settings.from_env({})
    assert defaults.signer_cache_seconds == SIGNER_CACHE_SECONDS == 10
    assert defaults.jwks_cache_seconds == JWKS_CACHE_SECONDS == 5
    assert defaults.key_ring_max_age == MAX_RING_AGE_SECONDS == 30
    short = Settings.from_env(
        {"SIGNER_CACHE_SECONDS": "1", "JWKS_CACHE_SECONDS": "0", "KEY_RING_MAX_AGE_SECONDS": "2"}
    )
    assert (short.signer_cache_seconds, short.jwks_cache_seconds, short.key_ring_max_age) == (
        1,
        0,
        2,
    )
    # Longer than the defaults would break the targets: refused at cold start.
    for variable, value in (
        ("SIGNER_CACHE_SECONDS", "11"),
        ("JWKS_CACHE_SECONDS", "6"),
        ("KEY_RING_MAX_AGE_SECONDS", "31"),
    ):
        with pytest.raises(ConfigError, match=variable):
            Settings.from_env({variable: value})


@pytest.mark.parametrize(
    ("accessor", "variable", "field"),
    [
        ("users_table_name", "USERS_TABLE", "users_table"),
        ("sessions_table_name", "SESSIONS_TABLE", "sessions_table"),
        ("keys_table_name", "KEYS_TABLE", "keys_table"),
        ("signing_keys_secret_name", "SIGNING_KEYS_SECRET", "signing_keys_secret"),
    ],
)
def test_a_name_a_function_needs_is_read_through_a_typed_accessor(accessor, variable, field):
    with pytest.raises(ConfigError, match=f"^{variable} is not set$"):
        getattr(Settings.from_env({}), accessor)
    assert getattr(Settings.from_env({variable: " t1 "}), accessor) == "t1"
    assert getattr(Settings(**{field: "t2"}), accessor) == "t2"


def test_the_choices_are_literals_and_an_invalid_one_is_named():
    settings = Settings.from_env({"AUTHORIZER_MODE": "session", "SESSIONS_TABLE": "s"})
    assert settings.authorizer_mode == "session"
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"AUTHORIZER_MODE": "x", "SIGNING_BACKEND": "y", "SIGNING_ALG": "HS256"})
    assert str(caught.value) == (
        "invalid configuration: AUTHORIZER_MODE must be one of stateless, session, got 'x'; "
        "SIGNING_BACKEND must be kms or secretsmanager, got 'y'; "
        "SIGNING_ALG must be ES256 or RS256, got 'HS256'"
    )


# ---------------------------------------------------------------- ROUTE_SCOPES
def test_route_scopes_are_parsed_once_into_sets():
    settings = Settings.from_env(
        {"ROUTE_SCOPES": '{"GET /api/reports": "reports:read", "POST /api/x/{id}": "a b"}'}
    )
    assert settings.route_scopes == {
        "GET /api/reports": frozenset({"reports:read"}),
        "POST /api/x/{id}": frozenset({"a", "b"}),
    }
    assert Settings.from_env({}).route_scopes == {}
    assert Settings.from_env({"ROUTE_SCOPES": " "}).route_scopes == {}
    assert Settings.from_env({"ROUTE_SCOPES": "{}"}).route_scopes == {}


def test_settings_with_route_scopes_stay_hashable():
    hash(Settings.from_env({"ROUTE_SCOPES": '{"GET /a": "s"}'}))


@pytest.mark.parametrize(
    "raw",
    [
        "GET /api/reports=reports:read",
        '["GET /api/reports"]',
        '{"GET /a": "s", "GET /a": "t"}',
        '{"get /a": "s"}',
        '{"GET a": "s"}',
        '{"GET": "s"}',
        '{"$default": "s"}',
        '{"GET /a/*": "s"}',
        '{"GET /a b": "s"}',
        '{"GET /a": ""}',
        '{"GET /a": " s"}',
        '{"GET /a": "s  t"}',
        '{"GET /a": ["s"]}',
        '{"GET /a": "caf\u00e9"}',
        '{"GET /a": "a\\"b"}',
    ],
)
def test_a_bad_route_scopes_value_fails_the_cold_start_and_is_named(raw):
    with pytest.raises(ConfigError, match="ROUTE_SCOPES"):
        Settings.from_env({"ROUTE_SCOPES": raw})

"""WEBAUTHN_RP_ID, WEBAUTHN_RP_NAME and WEBAUTHN_ORIGINS (contract §8), parsed once."""

import pytest

from authcore.config import Settings
from authcore.errors import ConfigError


def test_defaults_are_localhost_authcore_and_the_allowed_origins():
    settings = Settings.from_env({"ALLOWED_ORIGINS": "https://app.example.com"})
    assert settings.webauthn_rp_id == "localhost"
    assert settings.webauthn_rp_name == "authcore"
    assert settings.passkey_origins == ["https://app.example.com"]


def test_explicit_values_win():
    settings = Settings.from_env(
        {
            "ALLOWED_ORIGINS": "https://app.example.com",
            "WEBAUTHN_RP_ID": "Example.COM",
            "WEBAUTHN_RP_NAME": "Example",
            "WEBAUTHN_ORIGINS": "https://a.example.com/, https://b.example.com",
        }
    )
    assert settings.webauthn_rp_id == "example.com"
    assert settings.webauthn_rp_name == "Example"
    assert settings.passkey_origins == ["https://a.example.com", "https://b.example.com"]


@pytest.mark.parametrize(
    "rp_id", ["https://example.com", "example.com:443", "example.com/path", "a..b", "ex ample.com"]
)
def test_an_rp_id_must_be_a_bare_host_name(rp_id):
    with pytest.raises(ConfigError, match="WEBAUTHN_RP_ID"):
        Settings.from_env({"WEBAUTHN_RP_ID": rp_id})


def test_origins_must_be_https_or_localhost():
    with pytest.raises(ConfigError, match="WEBAUTHN_ORIGINS"):
        Settings.from_env({"WEBAUTHN_ORIGINS": "http://app.example.com"})
    assert Settings.from_env({"WEBAUTHN_ORIGINS": "http://localhost:3000"}).passkey_origins == [
        "http://localhost:3000"
    ]

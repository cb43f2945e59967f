"""The account lifecycle's parts on their own: the password policy, canonical addresses,
mail tokens, the mail adapters (SES v2 over moto, the local outbox) and the Lambda hand-off."""

from __future__ import annotations

import io
import json

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber
from moto import mock_aws

from authcore.accounts.mail import LambdaJobs, Mail, OutboxMailer, SesMailer
from authcore.accounts.mailtokens import TOKEN_LENGTH, MailToken, StoredToken
from authcore.accounts.policy import check_new_password
from authcore.accounts.users import canonical_email
from authcore.config import Settings
from authcore.errors import (
    ConfigError,
    InvalidGrant,
    InvalidRequest,
    TemporarilyUnavailable,
    WeakPassword,
)


def _wide(text: str) -> str:
    """The full-width forms of ASCII letters and digits (what some keyboards type)."""
    return "".join(chr(ord(ch) + 0xFEE0) for ch in text)


# ------------------------------------------------------------------ policy
@pytest.mark.parametrize(
    "password",
    [
        "a" * 11,  # too short
        "x" * 1025,  # too long (refused before any hashing: 400 invalid_request upstream)
        "passwordpassword",
        "123456789012",
        "qwertyuiopasdf",
        "iloveyou12345",
        "alice.smith@example.org",  # the address itself
        "ALICE.SMITH@EXAMPLE.ORG",
        "alice.smithx",  # close to the address's local part
    ],
)
def test_weak_or_own_passwords_are_refused(password):
    with pytest.raises((WeakPassword, InvalidRequest)):
        check_new_password(password, username="asmith", email="alice.smith@example.org")


@pytest.mark.parametrize(
    "password",
    [
        "correct-horse-battery-staple",
        "plum-orbit-lantern-velvet",
        "Tr0ub4dor&3-extra",
        "é" * 6 + "x7Q!k2Lm",
    ],
)
def test_strong_passwords_pass_and_come_back_normalised(password):
    assert check_new_password(password, username="asmith") == password


def test_the_length_is_counted_after_nfkc():
    # Full-width digits and letters fold to ASCII: the same password on every keyboard.
    full_width = "-".join(_wide(part) for part in ("plum", "orbit", "lantern", "9"))
    assert check_new_password(full_width, username="asmith") == "plum-orbit-lantern-9"


def test_only_the_first_72_characters_are_judged_so_long_input_costs_little():
    strong_then_anything = "plum-orbit-lantern-velvet" + "a" * 990
    assert len(check_new_password(strong_then_anything, username="x")) == 1015
    with pytest.raises(WeakPassword):
        check_new_password("a" * 72 + "plum-orbit-lantern-velvet", username="x")


def test_the_username_is_refused_whatever_its_case():
    with pytest.raises(WeakPassword, match="username"):
        check_new_password("Quixotic-Zebra-Lamp", username="quixotic-zebra-lamp")


# ------------------------------------------------------------------ addresses
@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("Alice@Example.COM", "alice@example.com"),
        ("  bob@example.org ", "bob@example.org"),
        (_wide("carol") + "@example.org", "carol@example.org"),
        ("Straße@example.de", "strasse@example.de"),
    ],
)
def test_addresses_are_stored_in_one_canonical_form(raw, canonical):
    assert canonical_email(raw) == canonical


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "plain",
        "@example.com",
        "a@",
        "a@b",
        "a b@example.com",
        "a@@example.com",
        "a@x." + "y" * 260,
    ],
)
def test_what_is_not_an_address_is_400(raw):
    with pytest.raises(InvalidRequest):
        canonical_email(raw)


# ------------------------------------------------------------------ mail tokens
def test_tokens_carry_256_bits_and_only_their_digest_is_kept():
    token = MailToken.new()
    assert len(str(token)) == TOKEN_LENGTH
    assert len(bytes.fromhex(token.digest)) == 32
    assert str(token) not in token.digest
    assert MailToken.new().digest != token.digest
    assert str(token) not in repr(token)


@pytest.mark.parametrize("raw", ["", "a" * 42, "a" * 44, "a" * 42 + "=", "a" * 42 + "/"])
def test_what_is_not_a_token_is_refused_as_an_unknown_token(raw):
    with pytest.raises(InvalidGrant) as refused:
        MailToken.parse(raw)
    assert refused.value.description == "The link is invalid, used or expired."


def test_a_stored_token_is_usable_for_its_purposes_until_its_expiry_only():
    stored = StoredToken("d", "reset", "alice", expires_at=1000.0)
    assert stored.usable_for(("reset", "invite"), 999.999)
    assert not stored.usable_for(("reset",), 1000.0)
    assert not stored.usable_for(("verify",), 10.0)


# ------------------------------------------------------------------ mailers
MAIL = Mail("alice@example.com", "Reset your password", "Open https://app.example.com/x")


@mock_aws
def test_ses_refuses_an_unverified_sender_and_that_is_a_503_not_a_500():
    client = boto3.client("sesv2", region_name="us-east-1")
    with pytest.raises(TemporarilyUnavailable):
        SesMailer(client, "no-reply@example.com").send(MAIL)


@mock_aws
def test_ses_sends_from_a_verified_identity():
    client = boto3.client("sesv2", region_name="us-east-1")
    client.create_email_identity(EmailIdentity="example.com")
    SesMailer(client, "no-reply@example.com").send(MAIL)
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    sent = ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages
    assert [(m.source, m.destinations["ToAddresses"]) for m in sent] == [
        ("no-reply@example.com", ["alice@example.com"])
    ]


def test_the_outbox_writes_one_whole_json_file_per_mail_in_time_order(tmp_path):
    outbox = OutboxMailer(tmp_path / "out")
    outbox.send(MAIL)
    outbox.send(Mail("b@example.com", "Second", "text"))
    files = sorted((tmp_path / "out").iterdir())
    assert [f.suffix for f in files] == [".json", ".json"]
    assert [json.loads(f.read_text()) for f in files] == [
        {"to": "alice@example.com", "subject": "Reset your password", "text": MAIL.text},
        {"to": "b@example.com", "subject": "Second", "text": "text"},
    ]


# ------------------------------------------------------------------ hand-off
def test_jobs_are_handed_to_the_mail_function_asynchronously():
    client = boto3.client("lambda", region_name="us-east-1")
    with Stubber(client) as stub:
        stub.add_response(
            "invoke",
            {"StatusCode": 202, "Payload": StreamingBody(io.BytesIO(b""), 0)},
            {
                "FunctionName": "mail-fn",
                "InvocationType": "Event",
                "Payload": b'{"job": "reset", "email": "a@example.com"}',
            },
        )
        LambdaJobs(client, "mail-fn").submit({"job": "reset", "email": "a@example.com"})
        stub.assert_no_pending_responses()


def test_a_failed_hand_off_is_a_503():
    client = boto3.client("lambda", region_name="us-east-1")
    with Stubber(client) as stub:
        stub.add_client_error("invoke", "TooManyRequestsException", http_status_code=429)
        with pytest.raises(TemporarilyUnavailable):
            LambdaJobs(client, "mail-fn").submit({"job": "reset", "username": "a"})


# ------------------------------------------------------------------ configuration
def test_account_settings_parse_and_validate():
    settings = Settings.from_env(
        {"APP_URL": "https://app.example.com/", "SIGNUP_ENABLED": "true", "MAIL_FROM": "n@x.org"}
    )
    assert settings.app_url_value == "https://app.example.com"
    assert settings.signup_enabled
    assert settings.signup_require_verified_email
    assert Settings.from_env({}).signup_enabled is False
    assert (
        Settings.from_env({"SIGNUP_REQUIRE_VERIFIED_EMAIL": "false"}).signup_require_verified_email
        is False
    )
    with pytest.raises(ConfigError, match="APP_URL"):
        Settings.from_env({"APP_URL": "http://evil.example"})
    with pytest.raises(ConfigError, match="SIGNUP_ENABLED"):
        Settings.from_env({"SIGNUP_ENABLED": "yes"})
    with pytest.raises(ConfigError, match="APP_URL is not set"):
        _ = Settings.from_env({}).app_url_value

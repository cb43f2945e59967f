"""The second factor's pure parts: TOTP steps (RFC 6238) on a frozen clock, recovery
codes, and the access token's amr/auth_time checks."""

from __future__ import annotations

import base64

import pyotp
import pytest

from authcore.mfa import recovery, totp

T0 = 1_800_000_010.0


@pytest.mark.parametrize(("offset", "matched"), [(-2, None), (-1, -1), (0, 0), (1, 1), (2, None)])
def test_a_code_matches_its_step_within_one_either_side(offset, matched):
    secret = totp.new_secret()
    code = pyotp.TOTP(secret).at(T0 + offset * totp.PERIOD)
    step = totp.matched_step(secret, code, T0)
    expected = None if matched is None else totp.step_at(T0) + matched
    assert step == expected


@pytest.mark.parametrize(
    "code", ["", "12345", "1234567", "abcdef", "12 34 5x", "\uff11\uff12\uff13\uff14\uff15\uff16"]
)
def test_malformed_codes_match_nothing(code):
    assert totp.matched_step(totp.new_secret(), code, T0) is None


def test_spaces_in_a_typed_code_are_ignored():
    secret = totp.new_secret()
    code = pyotp.TOTP(secret).at(T0)
    assert totp.matched_step(secret, f" {code[:3]} {code[3:]} ", T0) == totp.step_at(T0)


def test_secrets_are_160_random_bits():
    secrets = {totp.new_secret() for _ in range(50)}
    assert len(secrets) == 50
    assert all(len(base64.b32decode(s)) == 20 for s in secrets)


def test_ten_distinct_recovery_codes_of_80_bits():
    codes = recovery.new_codes()
    assert len(set(codes)) == recovery.COUNT == 10
    for code in codes:
        assert len(code) == 19
        assert code.count("-") == 3
        assert set(code.replace("-", "")) <= set("0123456789abcdefghjkmnpqrstvwxyz")


def test_a_recovery_code_is_read_as_people_type_it():
    assert recovery.digest("ab1o-0000-0000-0000") == recovery.digest("AB10 0000 0000 0000")
    assert recovery.digest("abil-0000-0000-0000") == recovery.digest("ab11000000000000")
    assert recovery.digest("ab11-0000-0000-0000") != recovery.digest("ab12-0000-0000-0000")

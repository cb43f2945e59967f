import pytest

from authcore.accounts.passwords import Passwords
from authcore.accounts.users import canonical_username
from authcore.errors import InvalidRequest


@pytest.fixture(scope="module")
def passwords():
    return Passwords()


def test_argon2id_with_owasp_parameters(passwords):
    stored = passwords.hash("correct-horse-battery-staple")
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert passwords.verify(stored, "correct-horse-battery-staple")
    assert not passwords.verify(stored, "correct-horse-battery-stapler")


def test_passwords_are_nfkc_normalised(passwords):
    # U+212B ANGSTROM SIGN and U+00C5 are one character after NFKC; full-width digits too.
    stored = passwords.hash("\u212bngstr\u00f6m-\uff11\uff12\uff13")
    assert passwords.verify(stored, "\u00c5ngstr\u00f6m-123")


def test_any_unicode_and_nul_are_accepted(passwords):
    password = "p\x00ss\u2603w\u00f6rd\U0001f511"
    assert passwords.verify(passwords.hash(password), password)


def test_short_passwords_are_refused_at_creation(passwords):
    with pytest.raises(InvalidRequest):
        passwords.hash("short")


def test_overlong_passwords_are_refused_before_hashing(passwords):
    with pytest.raises(InvalidRequest):
        passwords.verify(passwords.hash("x" * 20), "x" * 1025)


def test_garbage_hash_never_verifies(passwords):
    assert not passwords.verify("not-a-hash", "whatever-password")


@pytest.mark.parametrize("variant", ["Sam", "SAM", "sam", "\uff33\uff21\uff2d"])
def test_username_variants_are_one_account(variant):
    assert canonical_username(variant) == "sam"


@pytest.mark.parametrize("bad", ["", "a" * 65, "sam smith", "sam\x00", "sam/../admin", "<script>"])
def test_bad_usernames_are_refused(bad):
    with pytest.raises(InvalidRequest):
        canonical_username(bad)


def test_lone_surrogates_are_refused_not_crashed_on(passwords):
    with pytest.raises(InvalidRequest):
        passwords.verify(passwords.hash("correct-horse"), "\ud800correct-horse")


def test_a_cheaper_or_different_hash_needs_rehash_and_the_current_one_does_not(passwords):
    from argon2 import PasswordHasher

    cheap = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash("a-password")
    assert passwords.needs_rehash(cheap)
    assert passwords.needs_rehash(PasswordHasher(hash_len=16).hash("a-password"))
    assert not passwords.needs_rehash(passwords.hash("a-password"))
    assert Passwords(time_cost=3).needs_rehash(passwords.hash("a-password"))
    assert not passwords.needs_rehash("not-a-hash")


def test_rehash_keeps_a_legacy_short_password_verifiable(passwords):
    stored = passwords.rehash("short")
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert passwords.verify(stored, "short")
    with pytest.raises(InvalidRequest):
        passwords.rehash("x" * 1025)


def test_burn_costs_one_verification_at_the_configured_parameters(passwords):
    passwords.burn("whatever-password")
    assert passwords._dummy_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert not passwords.needs_rehash(passwords._dummy_hash)

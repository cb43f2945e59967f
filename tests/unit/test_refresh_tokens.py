import pytest

from authcore.errors import InvalidGrant
from authcore.tokens.refresh import RefreshToken


def test_tokens_carry_256_random_bits_and_round_trip():
    token = RefreshToken.new()
    assert len(token.secret) == 32
    assert RefreshToken.parse(str(token)) == token
    assert RefreshToken.new().secret != token.secret


def test_repr_never_shows_the_secret():
    token = RefreshToken.new()
    assert str(token).split(".")[1] not in repr(token)


def test_successor_keeps_session_and_family_but_not_secret():
    token = RefreshToken.new()
    successor = token.successor()
    assert (successor.sid, successor.family) == (token.sid, token.family)
    assert successor.secret != token.secret
    assert successor.digest != token.digest


@pytest.mark.parametrize(
    "text",
    [
        "",
        "abc",
        "a" * 22,
        "a" * 22 + "." + "b" * 63,
        "a" * 22 + "." + "b" * 65,
        "a" * 21 + "." + "b" * 64,
        "a" * 22 + "." + "b" * 63 + "=",
        "a" * 22 + ".." + "b" * 64,
        "../../etc/passwd",
        "a" * 22 + "." + "b" * 63 + "\n",
    ],
)
def test_malformed_tokens_are_an_invalid_grant(text):
    with pytest.raises(InvalidGrant):
        RefreshToken.parse(text)


def test_sealed_successor_opens_only_with_the_previous_token():
    previous = RefreshToken.new()
    successor = previous.successor()
    box = previous.seal_successor(successor)
    assert previous.open_successor(box) == successor
    assert successor.open_successor(box) is None
    assert RefreshToken.new(previous.sid, previous.family).open_successor(box) is None
    # The sealed box never contains the successor's secret in clear.
    assert successor.secret not in box
    tampered = box[:-1] + bytes([box[-1] ^ 1])
    assert previous.open_successor(tampered) is None

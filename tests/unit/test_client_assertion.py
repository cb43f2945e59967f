"""private_key_jwt client assertions (RFC 7523 §2.2 and §3), organised by attack class.

Every refusing case builds an assertion that is correct in every respect but the one
under attack, and checks the logged reason, so a refusal can only come from the check
named. Every refusal is the same InvalidClient to the client.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import string
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from jwt.algorithms import ECAlgorithm, RSAAlgorithm, get_default_algorithms

from authcore import b64
from authcore.clients.assertion import (
    ASSERTION_TYPE,
    MAX_ASSERTION_LENGTH,
    MAX_ASSERTION_LIFETIME,
    AssertionRefused,
    VerifiedAssertion,
    claimed_client,
    verify_assertion,
)
from authcore.errors import InvalidClient

ISSUER = "https://auth.example.com"
TOKEN_ENDPOINT = f"{ISSUER}/oauth2/token"
CLIENT = "svc-reports"
NOW = 1_800_000_000


# ---------------------------------------------------------------- keys and builders
@pytest.fixture(scope="module")
def p256():
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def p384():
    return ec.generate_private_key(ec.SECP384R1())


@pytest.fixture(scope="module")
def rsa2048():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def rsa1024():
    # Weak on purpose: the registration the verifier must refuse to use.
    return rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505


@pytest.fixture(scope="module")
def other_p256():
    return ec.generate_private_key(ec.SECP256R1())


def jwk(private_key: Any, kid: str | None = "k1", **members: Any) -> dict[str, Any]:
    """The public JWK of a key as a client would register it."""
    public = private_key.public_key()
    algorithm = ECAlgorithm if isinstance(public, ec.EllipticCurvePublicKey) else RSAAlgorithm
    key: dict[str, Any] = algorithm.to_jwk(public, as_dict=True)
    if kid is not None:
        key["kid"] = kid
    key.update(members)
    return {k: v for k, v in key.items() if v is not ...}


def private_jwk(private_key: Any, kid: str = "k1") -> dict[str, Any]:
    algorithm = ECAlgorithm if isinstance(private_key, ec.EllipticCurvePrivateKey) else RSAAlgorithm
    key: dict[str, Any] = algorithm.to_jwk(private_key, as_dict=True)
    key["kid"] = kid
    return key


def claims(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "iss": CLIENT,
        "sub": CLIENT,
        "aud": ISSUER,
        "exp": NOW + 120,
        "iat": NOW,
        "jti": "3f1c0d4e-assertion-1",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not ...}


def assertion(
    private_key: Any, alg: str = "ES256", payload: Any = None, *, kid: str | None = "k1", **header
) -> str:
    """A well-formed assertion signed by PyJWT, as a client library would send it."""
    headers = dict(header)
    if kid is not None:
        headers["kid"] = kid
    return jwt.encode(
        claims() if payload is None else payload, private_key, algorithm=alg, headers=headers
    )


def segment(value: Any) -> str:
    raw = value if isinstance(value, bytes) else json.dumps(value, separators=(",", ":")).encode()
    return b64.encode(raw)


def hand_built(
    private_key: Any,
    *,
    header: Any = None,
    raw_header: bytes | None = None,
    raw_payload: bytes | None = None,
    payload: Any = None,
    alg: str = "ES256",
) -> str:
    """An assertion with exactly the bytes given, validly signed (for what PyJWT will not build)."""
    if header is None:
        header = {"alg": alg, "kid": "k1"}
    h = b64.encode(raw_header) if raw_header is not None else segment(header)
    if raw_payload is not None:
        p = b64.encode(raw_payload)
    else:
        p = segment(claims() if payload is None else payload)
    signing_input = f"{h}.{p}".encode()
    signature = get_default_algorithms()[alg].sign(signing_input, private_key)
    return f"{h}.{p}.{b64.encode(signature)}"


def verify(token: Any, jwks: Any, *, now: float = NOW, **kwargs: Any) -> VerifiedAssertion:
    options: dict[str, Any] = {"client_id": CLIENT, "issuer": ISSUER, "now": now}
    options.update(kwargs)
    return verify_assertion(token, jwks=jwks, **options)


def refused(token: Any, jwks: Any, reason: str, **kwargs: Any) -> None:
    with pytest.raises(InvalidClient) as caught:
        verify(token, jwks, **kwargs)
    assert_one_answer(caught.value, reason)


def assert_one_answer(error: InvalidClient, reason: str) -> None:
    # One answer for every reason: the class the web layer maps, its code and its text.
    assert isinstance(error, AssertionRefused)
    assert error.reason == reason
    assert error.code == "invalid_client"
    assert str(error) == error.description == InvalidClient().description


@pytest.fixture
def p256_jwks(p256):
    return {"keys": [jwk(p256, alg="ES256", use="sig")]}


# ---------------------------------------------------------------- it works
def test_assertion_type_is_rfc_7523():
    assert ASSERTION_TYPE == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@pytest.mark.parametrize(
    ("key_name", "alg"),
    [("p256", "ES256"), ("p384", "ES384"), ("rsa2048", "RS256"), ("rsa2048", "PS256")],
)
@pytest.mark.parametrize("registered_alg", [True, False])
def test_each_algorithm_verifies(request, key_name, alg, registered_alg):
    key = request.getfixturevalue(key_name)
    jwks = {"keys": [jwk(key, alg=alg if registered_alg else ...)]}
    verified = verify(assertion(key, alg), jwks)
    assert verified == VerifiedAssertion(
        client_id=CLIENT, jti="3f1c0d4e-assertion-1", exp=NOW + 120
    )
    assert isinstance(verified.exp, float)


def test_the_key_is_chosen_by_kid_among_several(p256, p384, rsa2048):
    jwks = {
        "keys": [
            jwk(p256, "ec"),
            jwk(p384, "ec384"),
            jwk(rsa2048, "rsa", alg="PS256"),
        ]
    }
    assert verify(assertion(p384, "ES384", kid="ec384"), jwks).client_id == CLIENT
    assert verify(assertion(rsa2048, "PS256", kid="rsa"), jwks).client_id == CLIENT


def test_without_kid_the_only_key_is_used(p256):
    verify(assertion(p256, kid=None), {"keys": [jwk(p256, kid=None)]})


def test_verified_assertion_is_frozen(p256, p256_jwks):
    verified = verify(assertion(p256), p256_jwks)
    with pytest.raises(AttributeError):
        verified.jti = "other"  # type: ignore[misc]


@pytest.mark.parametrize("typ", ["JWT", "jwt", "client-authentication+jwt", "application/JWT"])
def test_plain_and_explicit_types_are_accepted(p256, p256_jwks, typ):
    verify(assertion(p256, typ=typ), p256_jwks)


def test_unknown_header_members_are_ignored(p256, p256_jwks):
    # RFC 7515 §4: a member the verifier does not know is ignored unless listed in crit.
    verify(assertion(p256, x5t="abc"), p256_jwks)


def test_aud_as_a_one_element_array(p256, p256_jwks):
    verify(assertion(p256, payload=claims(aud=[ISSUER])), p256_jwks)


def test_iat_and_nbf_are_optional(p256, p256_jwks):
    verify(assertion(p256, payload=claims(iat=..., nbf=...)), p256_jwks)
    verify(assertion(p256, payload=claims(nbf=NOW - 5)), p256_jwks)


# ---------------------------------------------------------------- algorithm confusion
def test_alg_none_is_refused(p256_jwks):
    token = f"{segment({'alg': 'none', 'kid': 'k1'})}.{segment(claims())}."
    # Unsigned "header.payload." is not even a well-formed JWS here...
    refused(token, p256_jwks, "malformed")
    # ...and with a signature segment added, the algorithm itself is refused.
    refused(token + "AAAA", p256_jwks, "alg_not_allowed")


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "HS256", "HS512", "ES512", "EdDSA", ""])
def test_algorithms_outside_the_list_are_refused(p256, p256_jwks, alg):
    refused(hand_built(p256, header={"alg": alg, "kid": "k1"}), p256_jwks, "alg_not_allowed")


@pytest.mark.parametrize("alg", [None, ["ES256"], 256])
def test_alg_of_the_wrong_type_is_refused(p256, p256_jwks, alg):
    refused(hand_built(p256, header={"alg": alg, "kid": "k1"}), p256_jwks, "alg_not_allowed")


def _hs256(secret: bytes, kid: str = "k1") -> str:
    h, p = segment({"alg": "HS256", "kid": kid, "typ": "JWT"}), segment(claims())
    mac = hmac.new(secret, f"{h}.{p}".encode(), hashlib.sha256).digest()
    return f"{h}.{p}.{b64.encode(mac)}"


def test_hs256_keyed_with_the_public_key_text_is_refused(rsa2048, p256):
    # The classic confusion: a verifier that lets the token choose HS256 would use the
    # (public, readable) key text as the HMAC secret.
    rsa_jwks = {"keys": [jwk(rsa2048, alg=...)]}
    pem = rsa2048.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    refused(_hs256(pem), rsa_jwks, "alg_not_allowed")
    refused(_hs256(json.dumps(rsa_jwks["keys"][0]).encode()), rsa_jwks, "alg_not_allowed")
    ec_jwks = {"keys": [jwk(p256)]}
    refused(_hs256(json.dumps(ec_jwks).encode()), ec_jwks, "alg_not_allowed")


def test_rs256_against_a_key_registered_for_ps256_is_refused(rsa2048):
    refused(assertion(rsa2048, "RS256"), {"keys": [jwk(rsa2048, alg="PS256")]}, "alg_mismatch")


def test_jwk_alg_other_than_the_headers_is_refused(p256):
    # The registered alg pins the key: the header cannot pick another one.
    refused(
        hand_built(p256, header={"alg": "ES384", "kid": "k1"}),
        {"keys": [jwk(p256, alg="ES256")]},
        "alg_mismatch",
    )


def test_an_ec_key_never_verifies_an_rsa_algorithm(p256):
    refused(
        hand_built(p256, header={"alg": "RS256", "kid": "k1"}),
        {"keys": [jwk(p256)]},
        "alg_mismatch",
    )


def test_es384_on_a_p256_key_is_refused(p256):
    # Without an alg the curve decides: P-256 signs ES256 only.
    refused(
        hand_built(p256, header={"alg": "ES384", "kid": "k1"}),
        {"keys": [jwk(p256, alg=...)]},
        "alg_mismatch",
    )


def test_a_jwk_alg_that_does_not_fit_its_key_makes_it_unusable(p256, rsa2048):
    refused(assertion(p256), {"keys": [jwk(p256, alg="ES384")]}, "unusable_key")
    refused(assertion(p256), {"keys": [jwk(p256, alg="HS256")]}, "unusable_key")
    refused(assertion(rsa2048, "RS256"), {"keys": [jwk(rsa2048, alg="ES256")]}, "unusable_key")


# ---------------------------------------------------------------- which key
def test_a_signature_by_another_key_is_refused(other_p256, p256_jwks):
    refused(assertion(other_p256), p256_jwks, "bad_signature")


def test_kid_not_in_the_jwks_is_refused(p256, p256_jwks):
    refused(assertion(p256, kid="k2"), p256_jwks, "unknown_kid")


@pytest.mark.parametrize("kid", ["", 7, None, ["k1"], "k" * 257])
def test_malformed_kid_is_refused(p256, p256_jwks, kid):
    refused(hand_built(p256, header={"alg": "ES256", "kid": kid}), p256_jwks, "bad_kid")


def test_no_kid_with_two_keys_is_refused(p256, other_p256):
    jwks = {"keys": [jwk(p256, "a"), jwk(other_p256, "b")]}
    refused(assertion(p256, kid=None), jwks, "no_single_key")


def test_no_kid_counts_keys_of_any_type(p256, rsa2048):
    # Exactly one usable key, not one per algorithm: no trying keys until one fits.
    jwks = {"keys": [jwk(p256, "a"), jwk(rsa2048, "b")]}
    refused(assertion(p256, kid=None), jwks, "no_single_key")


def test_no_kid_ignores_unusable_keys(p256, rsa1024):
    jwks = {"keys": [jwk(p256, "a"), jwk(rsa1024, "old"), jwk(p256, "enc", use="enc")]}
    verify(assertion(p256, kid=None), jwks)


def test_two_keys_under_one_kid_are_refused(p256, other_p256):
    jwks = {"keys": [jwk(p256, "same"), jwk(other_p256, "same")]}
    refused(assertion(p256, kid="same"), jwks, "ambiguous_kid")


def test_rsa_1024_is_refused(rsa1024):
    # Signed by hand: PyJWT warns about signing with a 1024-bit key.
    token = hand_built(rsa1024, alg="RS256")
    refused(token, {"keys": [jwk(rsa1024)]}, "unusable_key")
    refused(
        hand_built(rsa1024, header={"alg": "RS256"}, alg="RS256"),
        {"keys": [jwk(rsa1024, kid=None)]},
        "no_single_key",
    )


@pytest.mark.parametrize("use", ["enc", "", ["sig"]])
def test_a_key_not_for_signatures_is_refused(p256, use):
    refused(assertion(p256), {"keys": [jwk(p256, use=use)]}, "unusable_key")


@pytest.mark.parametrize("ops", [["encrypt"], ["sign"], "verify", []])
def test_a_key_whose_key_ops_exclude_verify_is_refused(p256, ops):
    refused(assertion(p256), {"keys": [jwk(p256, key_ops=ops)]}, "unusable_key")


@pytest.mark.parametrize("key_name", ["p256", "rsa2048"])
def test_a_jwks_with_private_key_material_is_refused_outright(request, key_name, p256, p384):
    leaked = private_jwk(request.getfixturevalue(key_name), kid="leaked")
    assert "d" in leaked
    # Even when the assertion names another, clean key: the registration is broken.
    jwks = {"keys": [jwk(p384, "clean"), leaked]}
    refused(assertion(p384, "ES384", kid="clean"), jwks, "private_key_in_jwks")


def test_a_jwks_with_a_symmetric_key_is_refused_outright(p256):
    jwks = {"keys": [jwk(p256), {"kty": "oct", "kid": "s", "k": b64.encode(b"secret" * 6)}]}
    refused(assertion(p256), jwks, "private_key_in_jwks")


def test_a_point_off_the_curve_is_unusable(p256):
    key = jwk(p256)
    y = int.from_bytes(b64.decode(key["y"]), "big")
    key["y"] = b64.encode(((y + 1) % 2**256).to_bytes(32, "big"))
    refused(assertion(p256), {"keys": [key]}, "unusable_key")


def test_a_short_coordinate_is_unusable(p256):
    key = jwk(p256)
    key["x"] = b64.encode(b64.decode(key["x"])[1:])
    refused(assertion(p256), {"keys": [key]}, "unusable_key")


@pytest.mark.parametrize(
    "jwks",
    [None, [], "keys", {}, {"keys": None}, {"keys": "k1"}, {"keys": {"k1": {}}}],
)
def test_a_malformed_jwks_is_refused(p256, jwks):
    refused(assertion(p256), jwks, "bad_jwks")


def test_jwks_entries_of_the_wrong_shape_are_skipped(p256):
    jwks = {"keys": [None, "k1", ["k1"], 7, jwk(p256)]}
    verify(assertion(p256), jwks)
    verify(assertion(p256, kid=None), jwks)


@pytest.mark.parametrize("member", ["jwk", "jku", "x5u", "x5c", "crit", "b64", "zip", "enc", "cty"])
def test_header_members_that_bring_keys_or_change_meaning_are_refused(p256, p256_jwks, member):
    # CVE-2018-0114: an embedded jwk signed by the attacker's own key.
    refused(
        hand_built(p256, header={"alg": "ES256", "kid": "k1", member: "x"}),
        p256_jwks,
        "forbidden_header",
    )


def test_an_embedded_attacker_key_is_never_used(other_p256, p256_jwks):
    token = assertion(other_p256, jwk=jwk(other_p256))
    refused(token, p256_jwks, "forbidden_header")


@pytest.mark.parametrize("typ", ["at+jwt", "logout+jwt", "JOSE", 1, ""])
def test_other_token_types_are_refused(p256, p256_jwks, typ):
    refused(
        hand_built(p256, header={"alg": "ES256", "kid": "k1", "typ": typ}), p256_jwks, "wrong_type"
    )


# ---------------------------------------------------------------- signatures
def test_a_der_encoded_ecdsa_signature_is_refused(p256, p256_jwks):
    good = assertion(p256)
    h, p, s = good.split(".")
    raw = b64.decode(s)
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    refused(f"{h}.{p}.{b64.encode(der)}", p256_jwks, "bad_signature")


def test_a_zero_signature_is_refused(p256, p256_jwks):
    # CVE-2022-21449 ("psychic signatures") accepted r = s = 0.
    h, p, _ = assertion(p256).split(".")
    refused(f"{h}.{p}.{b64.encode(bytes(64))}", p256_jwks, "bad_signature")


def test_an_rsa_signature_of_the_wrong_length_is_refused(rsa2048):
    jwks = {"keys": [jwk(rsa2048)]}
    h, p, s = assertion(rsa2048, "RS256").split(".")
    refused(f"{h}.{p}.{b64.encode(bytes(1) + b64.decode(s))}", jwks, "bad_signature")


def test_a_changed_payload_is_refused(p256, p256_jwks):
    h, _, s = assertion(p256).split(".")
    refused(f"{h}.{segment(claims(sub='admin', iss='admin'))}.{s}", p256_jwks, "bad_signature")


def test_a_non_canonical_signature_encoding_is_refused(p256, p256_jwks):
    h, p, s = assertion(p256).split(".")
    # 64 bytes are 86 characters whose last one carries 4 unused bits: setting one
    # is another spelling of the same bytes (RFC 4648 §3.5 says refuse it).
    last = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"
    tweaked = s[:-1] + last[last.index(s[-1]) ^ 1]
    refused(f"{h}.{p}.{tweaked}", p256_jwks, "malformed_signature")


# ---------------------------------------------------------------- claims
@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"iss": "svc-other", "sub": "svc-other"}, "wrong_iss"),
        ({"iss": ...}, "wrong_iss"),
        ({"iss": ["svc-reports"]}, "wrong_iss"),
        ({"iss": "SVC-REPORTS", "sub": "SVC-REPORTS"}, "wrong_iss"),
        ({"sub": "svc-other"}, "wrong_sub"),
        ({"sub": ...}, "wrong_sub"),
        ({"sub": "user-1"}, "wrong_sub"),
    ],
)
def test_iss_and_sub_are_the_client_id(p256, p256_jwks, overrides, reason):
    # Built by hand: PyJWT will not encode an iss that is not a string.
    refused(hand_built(p256, payload=claims(**overrides)), p256_jwks, reason)


@pytest.mark.parametrize(
    "aud",
    [
        TOKEN_ENDPOINT,
        [TOKEN_ENDPOINT],
        [ISSUER, TOKEN_ENDPOINT],
        [ISSUER, ISSUER],
        [],
        f"{ISSUER}/",
        ISSUER.upper(),
        "https://auth.example.com.evil.test",
        {"aud": ISSUER},
        ...,
    ],
)
def test_aud_is_exactly_the_issuer(p256, p256_jwks, aud):
    refused(assertion(p256, payload=claims(aud=aud)), p256_jwks, "wrong_aud")


@pytest.mark.parametrize("exp", [..., str(NOW + 120), None, True, [NOW + 120]])
def test_exp_is_a_required_number(p256, p256_jwks, exp):
    refused(assertion(p256, payload=claims(exp=exp)), p256_jwks, "bad_exp")


def test_exp_infinity_is_refused(p256, p256_jwks):
    # 1e999 is a valid JSON number that Python reads as inf: an assertion that never expires.
    payload = json.dumps(claims(exp=0), separators=(",", ":")).replace('"exp":0', '"exp":1e999')
    assert "1e999" in payload
    refused(
        hand_built(p256, header={"alg": "ES256", "kid": "k1"}, raw_payload=payload.encode()),
        p256_jwks,
        "bad_exp",
    )


def test_expired_assertions_are_refused_past_the_leeway(p256, p256_jwks):
    verify(assertion(p256, payload=claims(exp=NOW - 59)), p256_jwks)
    refused(assertion(p256, payload=claims(exp=NOW - 60)), p256_jwks, "expired")
    refused(assertion(p256, payload=claims(exp=NOW - 1)), p256_jwks, "expired", leeway=0)


def test_the_leeway_is_capped_at_sixty_seconds(p256, p256_jwks):
    refused(assertion(p256, payload=claims(exp=NOW - 61)), p256_jwks, "expired", leeway=3600)
    refused(
        assertion(p256, payload=claims(exp=NOW + MAX_ASSERTION_LIFETIME + 61)),
        p256_jwks,
        "exp_too_far",
        leeway=3600,
    )


def test_a_long_lived_assertion_is_refused(p256, p256_jwks):
    verify(assertion(p256, payload=claims(exp=NOW + MAX_ASSERTION_LIFETIME)), p256_jwks, leeway=0)
    refused(
        assertion(p256, payload=claims(exp=NOW + MAX_ASSERTION_LIFETIME + 1)),
        p256_jwks,
        "exp_too_far",
        leeway=0,
    )
    # A client whose clock runs ahead by less than the leeway still gets in.
    verify(assertion(p256, payload=claims(exp=NOW + MAX_ASSERTION_LIFETIME + 60)), p256_jwks)
    refused(assertion(p256, payload=claims(exp=NOW + 3600)), p256_jwks, "exp_too_far")
    refused(assertion(p256, payload=claims(exp=NOW + 10**12)), p256_jwks, "exp_too_far")


@pytest.mark.parametrize("name", ["iat", "nbf"])
def test_iat_and_nbf_in_the_future_are_refused(p256, p256_jwks, name):
    verify(assertion(p256, payload=claims(**{name: NOW + 60})), p256_jwks)
    refused(assertion(p256, payload=claims(**{name: NOW + 61})), p256_jwks, "not_yet_valid")


@pytest.mark.parametrize("name", ["iat", "nbf"])
@pytest.mark.parametrize("value", [str(NOW), None, False, [NOW]])
def test_iat_and_nbf_are_numbers_when_present(p256, p256_jwks, name, value):
    refused(assertion(p256, payload=claims(**{name: value})), p256_jwks, f"bad_{name}")


@pytest.mark.parametrize("jti", [..., "", None, 7, ["a"], "j" * 257])
def test_jti_is_a_bounded_non_empty_string(p256, p256_jwks, jti):
    refused(assertion(p256, payload=claims(jti=jti)), p256_jwks, "bad_jti")


def test_a_jti_of_the_maximum_length_is_accepted(p256, p256_jwks):
    assert verify(assertion(p256, payload=claims(jti="j" * 256)), p256_jwks).jti == "j" * 256


# ---------------------------------------------------------------- parsing
def test_duplicate_claims_are_refused(p256, p256_jwks):
    # {"sub": "svc-reports", ..., "sub": "admin"}: parsers disagree on which one wins.
    body = json.dumps(claims())[:-1] + ', "iss": "admin"}'
    token = hand_built(p256, header={"alg": "ES256", "kid": "k1"}, raw_payload=body.encode())
    refused(token, p256_jwks, "malformed_payload")
    with pytest.raises(InvalidClient) as caught:
        claimed_client(token)
    assert_one_answer(caught.value, "malformed_payload")


def test_duplicate_header_members_are_refused(p256, p256_jwks):
    raw = b'{"alg":"ES256","kid":"k1","alg":"HS256"}'
    refused(hand_built(p256, raw_header=raw), p256_jwks, "malformed_header")
    raw = b'{"alg":"HS256","kid":"k1","alg":"ES256"}'
    refused(hand_built(p256, raw_header=raw), p256_jwks, "malformed_header")


@pytest.mark.parametrize(
    "payload",
    [b"[]", b'"svc-reports"', b"not json", b"\xff\xfe", b'{"exp": NaN}', b"[" * 100 + b"]" * 100],
)
def test_a_payload_that_is_no_json_object_is_refused(p256, p256_jwks, payload):
    token = hand_built(p256, header={"alg": "ES256", "kid": "k1"}, raw_payload=payload)
    refused(token, p256_jwks, "malformed_payload")


def test_an_oversized_assertion_is_refused_before_parsing(p256, p256_jwks):
    padding = "x" * MAX_ASSERTION_LENGTH
    token = assertion(p256, payload=claims(pad=padding))
    assert len(token) > MAX_ASSERTION_LENGTH
    refused(token, p256_jwks, "malformed")
    with pytest.raises(InvalidClient) as caught:
        claimed_client(token)
    assert_one_answer(caught.value, "malformed")
    # Just under the limit still verifies: the limit is on size, not on content.
    fits = assertion(p256, payload=claims(pad="x" * (MAX_ASSERTION_LENGTH // 2)))
    assert len(fits) <= MAX_ASSERTION_LENGTH
    verify(fits, p256_jwks)


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "abc",
        "a.b",
        "a.b.c.d",
        "a.b.c.d.e",
        "..",
        "a..c",
        " " + "a.b.c",
        "a.b.c\n",
        "YQ==.YQ==.YQ==",
        "é.é.é",
        None,
        b"a.b.c",
        12,
        ["a.b.c"],
    ],
)
def test_garbage_is_refused(p256_jwks, garbage):
    refused(garbage, p256_jwks, "malformed")
    with pytest.raises(InvalidClient) as caught:
        claimed_client(garbage)
    assert_one_answer(caught.value, "malformed")


def test_a_jwe_is_refused(p256_jwks):
    # Five segments: an encrypted token, which nothing here decrypts.
    refused("eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d", p256_jwks, "malformed")


def test_bad_arguments_are_refused_too(p256, p256_jwks):
    token = assertion(p256)
    refused(token, p256_jwks, "bad_arguments", client_id="")
    refused(token, p256_jwks, "bad_arguments", issuer="")


# ---------------------------------------------------------------- claimed_client
def test_claimed_client_reads_iss_without_verifying(other_p256):
    # Any key: this only says where to look; verify_assertion decides.
    assert claimed_client(assertion(other_p256)) == CLIENT


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"iss": "svc-a", "sub": "svc-b"}, "iss_not_sub"),
        ({"sub": ...}, "iss_not_sub"),
        ({"iss": ..., "sub": ...}, "bad_iss"),
        ({"iss": ...}, "bad_iss"),
        ({"iss": "", "sub": ""}, "bad_iss"),
        ({"iss": 7, "sub": 7}, "bad_iss"),
        ({"iss": ["svc-reports"], "sub": ["svc-reports"]}, "bad_iss"),
        ({"iss": "c" * 257, "sub": "c" * 257}, "bad_iss"),
    ],
)
def test_claimed_client_refuses_a_missing_or_split_identity(p256, overrides, reason):
    with pytest.raises(InvalidClient) as caught:
        claimed_client(hand_built(p256, payload=claims(**overrides)))
    assert_one_answer(caught.value, reason)


def test_claimed_client_refuses_a_header_that_is_no_json_object(p256):
    token = hand_built(p256, raw_header=b'{"alg":"ES256",}')
    with pytest.raises(InvalidClient) as caught:
        claimed_client(token)
    assert_one_answer(caught.value, "malformed_header")


# ---------------------------------------------------------------- fuzzing
_ALPHABET = string.ascii_letters + string.digits + "-_."


def _fuzz_inputs(seed: int, count: int) -> list[Any]:
    rng = random.Random(seed)  # noqa: S311 - reproducible test inputs, not secrets
    inputs: list[Any] = []
    for _ in range(count):
        kind = rng.randrange(5)
        length = rng.randrange(0, 200)
        if kind == 0:
            inputs.append(bytes(rng.randrange(256) for _ in range(length)).decode("latin-1"))
        elif kind == 1:
            inputs.append("".join(rng.choice(_ALPHABET) for _ in range(length)))
        elif kind == 2:
            # Three segments of random bytes: well-formed base64url, anything inside.
            parts = [
                bytes(rng.randrange(256) for _ in range(rng.randrange(0, 60))) for _ in range(3)
            ]
            inputs.append(".".join(b64.encode(part) for part in parts))
        elif kind == 3:
            # Real JSON objects with random members and values.
            def value() -> Any:
                return rng.choice(
                    [
                        None,
                        True,
                        0,
                        1.5,
                        "",
                        "ES256",
                        "k1",
                        "svc-reports",
                        [],
                        {},
                        ["svc-reports"],
                        10**30,
                    ]
                )

            header = {rng.choice(["alg", "kid", "typ", "crit"]): value() for _ in range(3)}
            payload = {rng.choice(["iss", "sub", "aud", "exp", "jti"]): value() for _ in range(5)}
            inputs.append(f"{segment(header)}.{segment(payload)}.{b64.encode(b'sig')}")
        else:
            inputs.append(
                "".join(rng.choice(string.printable + "\u00e9\u2028\ud800") for _ in range(length))
            )
    return inputs


def _outcome(function: Any, *args: Any) -> Any:
    """The result, or the InvalidClient raised; any other exception fails the test."""
    try:
        return function(*args)
    except InvalidClient as error:
        return error


def test_claimed_client_raises_only_invalid_client(p256):
    rng = random.Random(3)  # noqa: S311
    valid = assertion(p256)
    mutated = []
    for _ in range(300):
        i = rng.randrange(len(valid))
        mutated.append(valid[:i] + rng.choice(_ALPHABET + "=+/ ") + valid[i + 1 :])
    for value in _fuzz_inputs(1, 1500) + mutated:
        # Some inputs do claim a client (a changed signature still claims the same one):
        # reading is all this does. Anything else is the one refusal.
        outcome = _outcome(claimed_client, value)
        assert isinstance(outcome, AssertionRefused) or (type(outcome) is str and outcome)


def test_verify_assertion_raises_only_invalid_client(p256, p256_jwks):
    rng = random.Random(4)  # noqa: S311
    valid = assertion(p256)
    for value in _fuzz_inputs(2, 1000):
        with pytest.raises(InvalidClient):
            verify(value, p256_jwks)
    # One character changed anywhere: never accepted, never another exception.
    for _ in range(300):
        i = rng.randrange(len(valid))
        replacement = rng.choice(_ALPHABET + "=+/ ")
        if replacement == valid[i]:
            continue
        with pytest.raises(InvalidClient):
            verify(valid[:i] + replacement + valid[i + 1 :], p256_jwks)


def test_random_jwks_raise_only_invalid_client(p256):
    rng = random.Random(5)  # noqa: S311
    token = assertion(p256)
    values: list[Any] = [None, 0, "", "EC", "P-256", [], {}, ["sig"], "sig", "AAAA", "A", "ES256"]
    members = ["kty", "crv", "x", "y", "n", "e", "alg", "use", "key_ops", "kid"]
    for _ in range(500):
        key = jwk(p256)
        for name in rng.sample(members, rng.randrange(1, 4)):
            key[name] = rng.choice(values)
        outcome = _outcome(verify, token, {"keys": [key]})
        assert isinstance(outcome, AssertionRefused | VerifiedAssertion)


def test_refusals_leak_nothing_in_their_text(p256, other_p256, p256_jwks):
    # Different failures, one message: no key ids, claims or library text.
    messages = set()
    for token in (
        assertion(other_p256),
        assertion(p256, kid="nope"),
        "garbage",
        assertion(p256, payload=claims(aud=TOKEN_ENDPOINT)),
    ):
        with pytest.raises(InvalidClient) as caught:
            verify(token, p256_jwks)
        messages.add(str(caught.value))
    assert messages == {InvalidClient().description}


def test_discovery_advertises_exactly_the_algorithms_the_verifier_accepts():
    from authcore.clients import assertion
    from authcore.keys.publish import ASSERTION_ALGS

    assert set(ASSERTION_ALGS) == set(assertion._ALGORITHMS)

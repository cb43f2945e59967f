"""The access-token verifier, organised by attack class.

Every case forges a token that is correct in every respect but the one under
attack (see ``jwt_forge``), so a refusal can only come from the check named.
Time boundaries use a frozen clock.
"""

import base64
import hashlib
import hmac
import json

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from jwt_forge import AUDIENCE, ISSUER, NOW, claims, forge, segment

from authcore import b64
from authcore.clock import FrozenClock
from authcore.errors import InvalidToken, KeysUnconfirmed
from authcore.keys.ring import (
    MAX_RING_AGE_SECONDS,
    RELOAD_INTERVAL_SECONDS,
    KeyRing,
    parse_jwks,
)
from authcore.keys.signers import LocalSigner, public_jwk
from authcore.tokens.issue import ACCESS_TOKEN_TYPE, Principal, issue_access_token
from authcore.tokens.verify import MAX_TOKEN_LENGTH, AccessTokenVerifier

P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


@pytest.fixture(scope="module")
def signer():
    return LocalSigner.generate("key-1")


@pytest.fixture(scope="module")
def rsa_signer():
    return LocalSigner.generate("rsa-1", "RS256")


@pytest.fixture
def clock():
    return FrozenClock(NOW)


@pytest.fixture
def jwks(signer, rsa_signer):
    return {
        "keys": [
            public_jwk(signer.public_key(), signer.kid, "ES256"),
            public_jwk(rsa_signer.public_key(), rsa_signer.kid, "RS256"),
        ]
    }


class Lookups:
    """A kid -> key lookup that records what it was asked."""

    def __init__(self, ring):
        self.ring = ring
        self.asked = []

    def __call__(self, kid):
        self.asked.append(kid)
        return self.ring.get(kid)


@pytest.fixture
def lookups(jwks, clock):
    return Lookups(KeyRing(lambda: jwks, clock=clock))


@pytest.fixture
def verifier(lookups, clock):
    return AccessTokenVerifier(
        lookups, issuer=ISSUER, audience=AUDIENCE, max_lifetime=900, leeway=60, clock=clock
    )


def reason(verifier, token):
    with pytest.raises(InvalidToken) as caught:
        verifier.verify(token)
    return caught.value.reason


def at(clock, **overrides):
    """Claims issued now by the (frozen) clock."""
    return claims(iat=clock.now, exp=clock.now + 900, **overrides)


# ------------------------------------------------------------------ genuine
def test_issued_tokens_verify(signer, verifier):
    token = issue_access_token(
        signer,
        Principal("user-1", "sam", "profile"),
        sid="sid-1",
        issuer=ISSUER,
        audience=AUDIENCE,
        client_id="web",
        now=NOW,
        ttl=900,
    )
    result = verifier.verify(token)
    assert (result["sub"], result["sid"], result["username"]) == ("user-1", "sid-1", "sam")


def test_the_verifier_and_the_issuer_agree_on_the_type():
    from authcore.tokens import verify

    assert verify.ACCESS_TOKEN_TYPE == ACCESS_TOKEN_TYPE == "at+jwt"


def test_the_verifying_ecdsa_is_cryptographys_own_to_every_reader():
    """The verifier skips ECDSA's constructor (which imports cryptography's OpenSSL
    backend). Whatever a reader of an ``ECDSA`` can see, cryptography's ``verify``
    included, must be what that constructor would have made: if cryptography gives ECDSA
    another public member, this fails before a token is read with a half-made one."""
    from authcore.tokens import verify

    ours, theirs = verify._ECDSA_SHA256, ec.ECDSA(hashes.SHA256())
    assert isinstance(ours, ec.ECDSA)
    public = [name for name in dir(theirs) if not name.startswith("_")]
    assert public == ["algorithm", "deterministic_signing"]
    assert isinstance(ours.algorithm, hashes.SHA256)
    assert ours.deterministic_signing is theirs.deterministic_signing is False
    key = ec.generate_private_key(ec.SECP256R1())
    key.public_key().verify(key.sign(b"signed", theirs), b"signed", ours)


def test_rs256_tokens_verify_with_their_pinned_key(rsa_signer, verifier):
    assert verifier.verify(forge(rsa_signer))["sub"] == "user-1"


def test_fractional_dates_are_numbers_too(signer, verifier):
    token = forge(signer, claims(iat=NOW + 0.5, exp=NOW + 900.25, nbf=NOW - 0.5))
    assert verifier.verify(token)["exp"] == NOW + 900.25


# ------------------------------------------------- shape and size, before decoding
@pytest.mark.parametrize(
    "token",
    [
        None,
        123,
        b"a.b.c",
        ["a", "b", "c"],
        "",
        "a.b",
        "a.b.c.d",
        "a..c",
        ".b.c",
        "a.b.",
        "a.b.c=",
        "a+b.c.d",
        "a/b.c.d",
        "a.b.c ",
        " a.b.c",
        "a.b\n.c",
        "a.b.c\n",
        "Bearer a.b.c",
        "a.b.c\u00e9",
        '{"payload":"x","signatures":[]}',
    ],
)
def test_non_compact_forms_are_refused_without_a_key_lookup(verifier, lookups, token):
    assert reason(verifier, token) == "malformed"
    assert lookups.asked == []


def test_oversized_tokens_are_refused_before_decoding(signer, verifier, lookups):
    token = forge(signer, claims(pad="x" * 5000))
    assert reason(verifier, token) == "malformed"
    assert lookups.asked == []


def test_the_size_limit_is_exactly_four_kib(signer, verifier):
    def of_length(length):
        # Vary JSON whitespace until the compact form has exactly this length
        # (base64url lengths never leave a remainder of 1 modulo 4).
        header = json.dumps({"alg": "ES256", "kid": signer.kid, "typ": "at+jwt"}).encode()
        payload = json.dumps(claims(pad="x" * (length * 3 // 4 - 400))).encode()
        for header_spaces in range(3):
            for payload_spaces in range(400):
                token = forge(
                    signer,
                    raw_header=header + b" " * header_spaces,
                    raw_payload=payload + b" " * payload_spaces,
                )
                if len(token) == length:
                    return token
        raise AssertionError(f"no token of {length} characters")

    assert MAX_TOKEN_LENGTH == 4096
    assert verifier.verify(of_length(4096))["sub"] == "user-1"
    assert reason(verifier, of_length(4097)) == "malformed"


ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def _with_unused_bits(raw: bytes) -> bytes:
    # JSON may end with spaces: pad until base64url leaves unused bits in the last character.
    while len(raw) % 3 == 0:
        raw += b" "
    return raw


@pytest.mark.parametrize(
    ("index", "expected"), [(0, "malformed"), (1, "bad_signature"), (2, "malformed")]
)
def test_non_canonical_base64url_is_refused(signer, verifier, index, expected):
    # Flipping an unused bit of the last character gives another string that a
    # lenient decoder maps to the same bytes: two spellings of one token.
    header = json.dumps({"alg": "ES256", "kid": signer.kid, "typ": "at+jwt"}).encode()
    payload = json.dumps(claims()).encode()
    token = forge(
        signer, raw_header=_with_unused_bits(header), raw_payload=_with_unused_bits(payload)
    )
    assert verifier.verify(token)
    parts = token.split(".")
    canonical = parts[index]
    parts[index] = canonical[:-1] + ALPHABET[ALPHABET.index(canonical[-1]) ^ 1]
    lenient = base64.urlsafe_b64decode
    assert lenient(parts[index] + "==") == lenient(canonical + "==")
    # The signature covers the header and payload strings, so only the header
    # and signature spellings reach the decoder: both refused as malformed.
    assert reason(verifier, ".".join(parts)) == expected


# ------------------------------------------------------------ algorithm confusion
@pytest.mark.parametrize(
    "alg",
    ["none", "None", "NONE", "nOnE", "none ", "", "ES384", "ES512", "RS256", "PS256", "HS256"],
)
def test_alg_other_than_the_keys_pinned_one(signer, verifier, alg):
    header = {"alg": alg, "kid": signer.kid, "typ": "at+jwt"}
    assert reason(verifier, forge(signer, header=header)) == "wrong_alg"


@pytest.mark.parametrize("alg", [None, ["ES256"], {"ES256": True}, 256, True])
def test_alg_missing_or_not_a_string(signer, verifier, alg):
    header = {"alg": alg, "kid": signer.kid, "typ": "at+jwt"}
    if alg is None:
        del header["alg"]
    assert reason(verifier, forge(signer, header=header)) == "wrong_alg"


@pytest.mark.parametrize("spelling", ["none", "None", "NONE", "nOnE"])
def test_alg_none_with_an_empty_signature(signer, verifier, spelling):
    h, p = segment({"alg": spelling, "kid": signer.kid, "typ": "at+jwt"}), segment(claims())
    assert reason(verifier, f"{h}.{p}.") == "malformed"
    # ...and with any signature at all, the pinned algorithm refuses it.
    assert reason(verifier, f"{h}.{p}.AAAA") == "wrong_alg"


def _public_key_forms(signer):
    jwk = public_jwk(signer.public_key(), signer.kid, signer.alg)
    pem = signer.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    der = signer.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return [pem, der, json.dumps(jwk).encode(), jwk.get("x", jwk.get("n")).encode()]


@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512"])
@pytest.mark.parametrize("which", ["es", "rsa"])
def test_hmac_keyed_with_our_public_key(signer, rsa_signer, verifier, alg, which):
    victim = signer if which == "es" else rsa_signer
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
    h = segment({"alg": alg, "kid": victim.kid, "typ": "at+jwt"})
    p = segment(claims())
    for secret in _public_key_forms(victim):
        mac = hmac.new(secret, f"{h}.{p}".encode(), digest).digest()
        assert reason(verifier, f"{h}.{p}.{b64.encode(mac)}") == "wrong_alg"


def test_es_token_under_the_rsa_kid_is_refused(signer, rsa_signer, verifier):
    header = {"alg": "ES256", "kid": rsa_signer.kid, "typ": "at+jwt"}
    assert reason(verifier, forge(signer, header=header)) == "wrong_alg"


def test_rs_token_under_the_ec_kid_is_refused(signer, rsa_signer, verifier):
    header = {"alg": "RS256", "kid": signer.kid, "typ": "at+jwt"}
    assert reason(verifier, forge(rsa_signer, header=header)) == "wrong_alg"


# ------------------------------------------- keys published for anything but signing
def test_keys_not_for_signatures_or_with_private_parts_are_ignored(clock):
    signer = LocalSigner.generate("k1")
    jwk = public_jwk(signer.public_key(), "k1", "ES256")
    rsa_jwk = public_jwk(LocalSigner.generate("k1", "RS256").public_key(), "k1", "RS256")
    for bad in (
        {**jwk, "use": "enc"},
        {**jwk, "use": "SIG"},
        {**jwk, "use": None},
        {**jwk, "key_ops": ["encrypt"]},
        {**jwk, "key_ops": ["sign"]},
        {**jwk, "key_ops": "verify"},
        {**jwk, "d": "AAAA"},
        {**jwk, "alg": "HS256"},
        {**jwk, "alg": "RS256"},
        {**jwk, "alg": "ES384"},
        {**jwk, "crv": "P-384"},
        {**jwk, "kty": "RSA"},
        {k: v for k, v in jwk.items() if k != "alg"},
        {k: v for k, v in jwk.items() if k != "kid"},
        {**jwk, "kid": 1},
        {"kty": "oct", "kid": "k1", "alg": "HS256", "k": "c2VjcmV0"},
        {**rsa_jwk, "alg": "ES256"},
        {**rsa_jwk, "alg": "PS256"},
        {**rsa_jwk, "p": "AQAB"},
    ):
        ring = KeyRing(lambda bad=bad: {"keys": [bad]}, clock=clock)
        with pytest.raises(KeysUnconfirmed):  # no usable key: nothing to trust
            ring.get("k1")
        assert ring.kids == frozenset(), bad


def test_key_ops_verify_is_a_signature_key(clock):
    signer = LocalSigner.generate("k1")
    jwk = {**public_jwk(signer.public_key(), "k1", "ES256"), "key_ops": ["verify"]}
    del jwk["use"]
    assert parse_jwks({"keys": [jwk]})["k1"].alg == "ES256"


def test_malformed_key_material_is_ignored():
    signer = LocalSigner.generate("k1")
    jwk = public_jwk(signer.public_key(), "k1", "ES256")
    x = b64.decode(jwk["x"])
    y = int.from_bytes(b64.decode(jwk["y"]), "big")
    off_curve = b64.encode(((y + 1) % (2**256)).to_bytes(32, "big"))
    small_rsa = LocalSigner(rsa.generate_private_key(65537, 1024), "k1", "RS256")  # noqa: S505
    for bad in (
        {**jwk, "y": off_curve},  # invalid-curve attack: a point not on P-256
        {**jwk, "x": b64.encode(b"\x00" + x)},  # 33-byte coordinate
        {**jwk, "x": b64.encode(x[1:])},  # 31-byte coordinate
        {**jwk, "x": jwk["x"] + "="},
        {**jwk, "x": 7},
        {k: v for k, v in jwk.items() if k != "y"},
        public_jwk(small_rsa.public_key(), "k1", "RS256"),  # 1024-bit RSA
        {**public_jwk(small_rsa.public_key(), "k1", "RS256"), "n": ""},
    ):
        assert parse_jwks({"keys": [bad]}) == {}, bad


def test_two_keys_under_one_kid_are_both_refused():
    one, two = LocalSigner.generate("k1"), LocalSigner.generate("k1")
    jwks = {
        "keys": [
            public_jwk(one.public_key(), "k1", "ES256"),
            public_jwk(two.public_key(), "k1", "ES256"),
            public_jwk(LocalSigner.generate("k2").public_key(), "k2", "ES256"),
        ]
    }
    assert set(parse_jwks(jwks)) == {"k2"}


@pytest.mark.parametrize("jwks", [None, [], {"keys": None}, {"keys": {}}, {"nokeys": []}])
def test_a_jwks_without_a_keys_array_is_refused(jwks):
    with pytest.raises(TypeError):
        parse_jwks(jwks)


# ------------------------------------------------ key material and URLs in the header
@pytest.mark.parametrize("member", ["jwk", "jku", "x5u", "x5c", "x5t", "x5t#S256", "crit", "b64"])
def test_header_members_we_never_write_are_refused(signer, verifier, lookups, member):
    header = {"alg": "ES256", "kid": signer.kid, "typ": "at+jwt", member: "x"}
    assert reason(verifier, forge(signer, header=header)) == "forbidden_header"
    assert lookups.asked == []


@pytest.mark.parametrize("member", ["cty", "zip", "enc", "nonce", "url", "iss"])
def test_any_other_header_member_is_refused(signer, verifier, member):
    header = {"alg": "ES256", "kid": signer.kid, "typ": "at+jwt", member: "x"}
    assert reason(verifier, forge(signer, header=header)) == "forbidden_header"


def test_an_embedded_attacker_jwk_is_never_used(verifier):
    attacker = LocalSigner.generate("key-1")
    header = {
        "alg": "ES256",
        "kid": "key-1",
        "typ": "at+jwt",
        "jwk": public_jwk(attacker.public_key(), "key-1", "ES256"),
    }
    assert reason(verifier, forge(attacker, header=header)) == "forbidden_header"
    # Without the jwk member the same forgery fails on our own key.
    assert reason(verifier, forge(attacker)) == "bad_signature"


@pytest.mark.parametrize("member", ["crit", "b64"])
def test_crit_and_b64_refuse_even_when_empty_or_false(signer, verifier, member):
    value = [] if member == "crit" else False
    header = {"alg": "ES256", "kid": signer.kid, "typ": "at+jwt", member: value}
    assert reason(verifier, forge(signer, header=header)) == "forbidden_header"


# ------------------------------------------------------------------------- kid
@pytest.mark.parametrize("kid", [None, 7, 1.5, True, ["key-1"], {"kid": "key-1"}, "", "k" * 129])
def test_kid_missing_not_a_string_or_too_long(signer, verifier, lookups, kid):
    header = {"alg": "ES256", "typ": "at+jwt"}
    if kid is not None:
        header["kid"] = kid
    assert reason(verifier, forge(signer, header=header)) == "bad_kid"
    assert lookups.asked == []


@pytest.mark.parametrize(
    "kid",
    [
        "k" * 128,
        "../../../dev/null",
        "/dev/null",
        "key-1/../key-1",
        "key-1' OR '1'='1",
        "key-1\x00",
        "key-1 ",
        "KEY-1",
        "key-1|cat /etc/passwd",
        "http://attacker.example/jwks.json",
    ],
)
def test_kids_not_in_the_ring_simply_do_not_match(signer, verifier, kid):
    header = {"alg": "ES256", "kid": kid, "typ": "at+jwt"}
    assert reason(verifier, forge(signer, header=header)) == "unknown_kid"


# ------------------------------------------------------------------------- typ
@pytest.mark.parametrize(
    "typ",
    [None, "JWT", "jwt", "at+JWT", "AT+JWT", "application/at+jwt", "at+jwt ", "rt+jwt", "", 1],
)
def test_typ_must_be_at_jwt(signer, verifier, typ):
    header = {"alg": "ES256", "kid": signer.kid, "typ": typ}
    if typ is None:
        del header["typ"]
    assert reason(verifier, forge(signer, header=header)) == "wrong_type"


def test_an_id_token_signed_by_our_own_key_is_not_an_access_token(signer, verifier):
    header = {"alg": "ES256", "kid": signer.kid, "typ": "JWT"}
    id_token = claims(nonce="n-0S6_WzA2Mj", auth_time=NOW, azp="web")
    assert reason(verifier, forge(signer, id_token, header=header)) == "wrong_type"


# ------------------------------------------------------------- JSON and encoding
def test_duplicate_header_member(signer, verifier):
    raw = f'{{"alg":"ES256","kid":"{signer.kid}","typ":"at+jwt","alg":"none"}}'.encode()
    assert reason(verifier, forge(signer, raw_header=raw)) == "duplicate_member"


def test_duplicate_header_member_even_with_the_same_value(signer, verifier):
    raw = f'{{"alg":"ES256","kid":"{signer.kid}","typ":"at+jwt","typ":"at+jwt"}}'.encode()
    assert reason(verifier, forge(signer, raw_header=raw)) == "duplicate_member"


def test_duplicate_claim(signer, verifier):
    raw = (
        b'{"iss":"%s","sub":"admin","sub":"user-1","aud":"api","exp":%d,"iat":%d,"jti":"j","sid":"s"}'
        % (
            ISSUER.encode(),
            NOW + 900,
            NOW,
        )
    )
    assert reason(verifier, forge(signer, raw_payload=raw)) == "duplicate_member"


def test_duplicate_member_in_a_nested_claim_object(signer, verifier):
    body = json.dumps(claims())[:-1] + ',"cnf":{"jkt":"a","jkt":"b"}}'
    assert reason(verifier, forge(signer, raw_payload=body.encode())) == "duplicate_member"


@pytest.mark.parametrize(
    "raw",
    [
        b"[]",
        b'"x"',
        b"1",
        b"null",
        b"true",
        b"",
        b'{"a":\xff}',
        b'{"sub":"\xc3\x28"}',
        b'{"a":"\xed\xa0\x80"}',  # a UTF-8-encoded surrogate is not UTF-8
        b"\xef\xbb\xbf{}",  # byte order mark
        b"{",
        b"{} {}",
        b'{"exp": NaN}',
        b'{"exp": Infinity}',
        b'{"exp": -Infinity}',
        b"[" * 1500 + b"]" * 1500,
    ],
)
def test_payload_must_be_a_utf8_json_object(signer, verifier, raw):
    assert reason(verifier, forge(signer, raw_payload=raw)) == "malformed"


@pytest.mark.parametrize(
    "raw", [b"[]", b'"at+jwt"', b"null", b"\xff\xfe", b'{"alg":"ES256"', b"[" * 1500]
)
def test_header_must_be_a_utf8_json_object(signer, verifier, raw):
    assert reason(verifier, forge(signer, raw_header=raw)) == "malformed"


# ------------------------------------------------------------------- claims
@pytest.mark.parametrize(
    "override",
    [
        {"exp": str(NOW + 900)},
        {"exp": True},
        {"exp": None},
        {"exp": [NOW + 900]},
        {"exp": {"$numberLong": NOW + 900}},
        {"iat": str(NOW)},
        {"iat": False},
        {"iat": None},
        {"nbf": str(NOW)},
        {"nbf": True},
        {"nbf": None},
        {"exp": ...},
        {"iat": ...},
        {"sub": ...},
        {"jti": ...},
        {"sid": ...},
        {"iss": ...},
        {"aud": ...},
        {"sub": ""},
        {"sub": 1},
        {"sub": None},
        {"jti": 7},
        {"sid": ["s"]},
        {"scope": ["a"]},
        {"username": 1},
        {"client_id": None},
        # RFC 8176: a JSON array of non-empty strings; auth_time a number.
        {"amr": "pwd"},
        {"amr": ["pwd", 1]},
        {"amr": [""]},
        {"amr": None},
        {"auth_time": "1800000000"},
        {"auth_time": True},
        {"auth_time": None},
    ],
)
def test_claim_types_and_presence(signer, verifier, override):
    assert reason(verifier, forge(signer, claims(**override))) == "bad_claims"


def test_amr_and_auth_time_pass_through(signer, verifier):
    result = verifier.verify(forge(signer, claims(amr=["pwd", "otp", "mfa"], auth_time=NOW - 5)))
    assert (result["amr"], result["auth_time"]) == (["pwd", "otp", "mfa"], NOW - 5)


# ------------------------------------------------------- machine clients (§9)
def client_claims(**overrides):
    """A client-credentials token's claims (RFC 9068 §2.2): sub is the client_id, and
    there is no session and no username."""
    shape = {
        "sub": "reporting-client",
        "client_id": "reporting-client",
        "sid": ...,
        "username": ...,
    }
    return claims(**{**shape, **overrides})


def test_a_machine_clients_token_verifies_without_sid_or_username(signer, verifier):
    result = verifier.verify(forge(signer, client_claims(scope="reports:read")))
    assert result["sub"] == result["client_id"] == "reporting-client"
    assert "sid" not in result
    assert "username" not in result


@pytest.mark.parametrize(
    "override",
    [
        # A user's token that lost its sid: sub a user id, client_id the web app's.
        {"sid": ...},
        {"sid": ..., "username": ...},
        # Claims of both shapes at once.
        {"sid": ..., "sub": "web"},
        # Present, but empty: a value that says nothing is refused, not taken for absent.
        {"sid": ""},
        {"username": ""},
    ],
)
def test_a_token_without_a_session_must_have_the_client_credentials_shape(
    signer, verifier, override
):
    assert reason(verifier, forge(signer, claims(**override))) == "bad_claims"


@pytest.mark.parametrize(
    "override",
    [
        {"client_id": ...},
        {"client_id": "another-client"},
        {"username": "reporting-client"},
        {"client_id": ["reporting-client"]},
    ],
)
def test_a_client_token_names_itself_and_no_user(signer, verifier, override):
    assert reason(verifier, forge(signer, client_claims(**override))) == "bad_claims"


@pytest.mark.parametrize("exp", [b"1e999", b"-1e999", b"1E400"])
def test_non_finite_dates_are_refused(signer, verifier, exp):
    body = (
        json.dumps(claims(exp=0), separators=(",", ":"))
        .encode()
        .replace(b'"exp":0', b'"exp":' + exp)
    )
    assert reason(verifier, forge(signer, raw_payload=body)) == "bad_claims"


@pytest.mark.parametrize(
    "iss",
    [
        ISSUER + "/",
        ISSUER.upper(),
        ISSUER.replace("https", "http"),
        "https://auth.example.com.evil",
        "https://auth.example",
        "https://evil.example/https://auth.example.com",
        ISSUER + "#",
        ISSUER + " ",
        [ISSUER],
        {"iss": ISSUER},
    ],
)
def test_issuer_is_exact(signer, verifier, iss):
    expected = "wrong_issuer" if isinstance(iss, str) else "bad_claims"
    assert reason(verifier, forge(signer, claims(iss=iss))) == expected


@pytest.mark.parametrize(
    "aud", ["API", "ap", "api ", "api/", "apis", ["api"], ["api", "other"], "other"]
)
def test_audience_is_exact(signer, verifier, aud):
    expected = "wrong_audience" if isinstance(aud, str) else "bad_claims"
    assert reason(verifier, forge(signer, claims(aud=aud))) == expected


# ----------------------------------------------------------------------- time
def test_expiry_allows_at_most_sixty_seconds_of_leeway(signer, verifier, clock):
    token = forge(signer, claims())
    clock.now = NOW + 900 + 59
    assert verifier.verify(token)["sub"] == "user-1"
    clock.now = NOW + 900 + 60
    assert reason(verifier, token) == "expired"


def test_a_configured_leeway_over_sixty_seconds_is_capped(signer, lookups, clock):
    lenient = AccessTokenVerifier(
        lookups, issuer=ISSUER, audience=AUDIENCE, max_lifetime=900, leeway=3600, clock=clock
    )
    clock.now = NOW + 900 + 60
    assert reason(lenient, forge(signer, claims())) == "expired"


def test_zero_leeway_expires_exactly_at_exp(signer, lookups, clock):
    strict = AccessTokenVerifier(
        lookups, issuer=ISSUER, audience=AUDIENCE, max_lifetime=900, leeway=0, clock=clock
    )
    clock.now = NOW + 899
    assert strict.verify(forge(signer, claims()))
    clock.now = NOW + 900
    assert reason(strict, forge(signer, claims(jti="other"))) == "expired"


def test_cached_tokens_still_expire(signer, verifier, clock):
    token = forge(signer, claims())
    verifier.verify(token)
    clock.now = NOW + 900 + 59
    assert verifier.verify(token)
    clock.now = NOW + 900 + 60
    assert reason(verifier, token) == "expired"


@pytest.mark.parametrize(
    ("override", "ok"),
    [
        ({"iat": NOW + 60, "exp": NOW + 960}, True),
        ({"iat": NOW + 61, "exp": NOW + 961}, False),
        ({"nbf": NOW + 60}, True),
        ({"nbf": NOW + 61}, False),
        ({"nbf": NOW + 10_000}, False),
    ],
)
def test_not_yet_valid_or_issued_in_the_future(signer, verifier, override, ok):
    token = forge(signer, claims(**override))
    if ok:
        assert verifier.verify(token)["sub"] == "user-1"
    else:
        assert reason(verifier, token) == "not_yet_valid"


@pytest.mark.parametrize(
    ("iat", "exp", "ok"),
    [
        (NOW, NOW + 900, True),
        (NOW, NOW + 901, False),
        (NOW - 50, NOW + 900, False),
        (NOW - 10**9, NOW + 900, False),
        (0, NOW + 900, False),
    ],
)
def test_lifetime_longer_than_configured_is_refused(signer, verifier, iat, exp, ok):
    token = forge(signer, claims(iat=iat, exp=exp))
    if ok:
        assert verifier.verify(token)
    else:
        assert reason(verifier, token) == "lifetime_too_long"


# ----------------------------------------------------------------- signatures
def test_tampered_payload_fails_the_signature(signer, verifier):
    token = forge(signer, claims())
    h, _, s = token.split(".")
    assert reason(verifier, f"{h}.{segment(claims(sub='admin'))}.{s}") == "bad_signature"


def test_tampered_header_fails_the_signature(signer, verifier):
    token = forge(signer, claims())
    _, p, s = token.split(".")
    h = segment({"typ": "at+jwt", "kid": signer.kid, "alg": "ES256"})  # same members, new order
    assert reason(verifier, f"{h}.{p}.{s}") == "bad_signature"


def test_payload_is_not_parsed_before_the_signature_holds(signer, verifier):
    # Garbage that would be "malformed" if parsed is refused on its signature first.
    token = forge(signer, raw_payload=b"not json")
    h, p, _ = token.split(".")
    other = forge(signer).split(".")[2]
    assert reason(verifier, f"{h}.{p}.{other}") == "bad_signature"


def _rs(r, s):
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


@pytest.mark.parametrize(
    "signature",
    [
        b"\x00" * 64,  # CVE-2022-21449: r = s = 0
        _rs(0, 1),
        _rs(1, 0),
        _rs(0, P256_N - 1),
        _rs(P256_N, 1),
        _rs(1, P256_N),
        _rs(P256_N, P256_N),
        _rs(P256_N - 1, P256_N - 1),
        b"\xff" * 64,
        b"\x00" * 32 + b"\x01" * 32,
        b"\x01" * 63,
        b"\x01" * 65,
        b"\x01" * 96,
        b"\x01" * 128,
        b"\x30\x06\x02\x01\x01\x02\x01\x01",
    ],
)
def test_psychic_and_malformed_ecdsa_signatures(signer, verifier, signature):
    assert reason(verifier, forge(signer, signature=signature)) == "bad_signature"


def test_der_encoded_signature_is_refused(signer, verifier):
    h, p = segment({"alg": "ES256", "kid": signer.kid, "typ": "at+jwt"}), segment(claims())
    der = signer._key.sign(f"{h}.{p}".encode(), ec.ECDSA(hashes.SHA256()))
    assert reason(verifier, f"{h}.{p}.{b64.encode(der)}") == "bad_signature"


def test_rsa_signature_must_have_the_modulus_length(rsa_signer, verifier):
    token = forge(rsa_signer)
    h, p, s = token.split(".")
    raw = b64.decode(s)
    for wrong in (bytes(1) + raw, raw[1:], raw[:-1], bytes(256), bytes(512)):
        assert reason(verifier, f"{h}.{p}.{b64.encode(wrong)}") == "bad_signature"


def test_signature_by_another_key_with_our_kid(verifier):
    impostor = LocalSigner.generate("key-1")
    assert reason(verifier, forge(impostor)) == "bad_signature"


# ------------------------------------------------------- cache of verified tokens
def test_a_repeated_token_is_answered_from_the_cache(signer, verifier):
    token = forge(signer)
    first = verifier.verify(token)
    assert verifier.verify(token) is first  # the same claims object: not verified again


def test_the_cache_is_keyed_by_the_exact_token_string(signer, verifier):
    token = forge(signer)
    verifier.verify(token)
    h, p, _ = token.split(".")
    other = forge(signer, claims(sub="admin")).split(".")[2]
    assert reason(verifier, f"{h}.{p}.{other}") == "bad_signature"
    assert reason(verifier, token + "A") == "bad_signature"  # 65 bytes


def test_the_cache_is_bounded(signer, lookups, clock):
    small = AccessTokenVerifier(
        lookups, issuer=ISSUER, audience=AUDIENCE, max_lifetime=900, clock=clock, cache_size=2
    )
    tokens = [forge(signer, claims(jti=f"j{i}")) for i in range(3)]
    verified = [small.verify(token) for token in tokens]
    assert small.verify(tokens[2]) is verified[2]  # still cached
    assert small.verify(tokens[1]) is verified[1]
    assert small.verify(tokens[0]) is not verified[0]  # evicted: verified again
    assert small.verify(tokens[0]) == verified[0]


def test_refused_tokens_are_not_cached(signer, verifier, lookups):
    token = forge(signer, claims(iss="https://evil.example"))
    for _ in range(3):
        assert reason(verifier, token) == "wrong_issuer"
    assert len(lookups.asked) == 3


# ----------------------------------------------------------------- the key ring
def test_unknown_kid_reloads_at_most_once_per_interval(clock):
    fetches = []
    first = LocalSigner.generate("k1")
    second = LocalSigner.generate("k2")
    published = {"keys": [public_jwk(first.public_key(), "k1", "ES256")]}

    def source():
        fetches.append(clock.now)
        return published

    ring = KeyRing(source, clock=clock)
    verifier = AccessTokenVerifier(
        ring, issuer=ISSUER, audience=AUDIENCE, max_lifetime=900, clock=clock
    )
    assert verifier.verify(forge(first))["sub"] == "user-1"
    assert len(fetches) == 1
    for i in range(50):  # a spray of unknown kids costs one fetch per interval
        reason(verifier, forge(second, claims(jti=f"spray-{i}")))
        header = {"alg": "ES256", "kid": f"random-{i}", "typ": "at+jwt"}
        reason(verifier, forge(second, header=header))
    assert len(fetches) == 1
    published["keys"].append(public_jwk(second.public_key(), "k2", "ES256"))
    clock.advance(RELOAD_INTERVAL_SECONDS - 1)
    assert reason(verifier, forge(second, at(clock))) == "unknown_kid"
    assert len(fetches) == 1
    clock.advance(1)
    assert verifier.verify(forge(second, at(clock)))
    assert len(fetches) == 2


def test_the_defaults_meet_the_revocation_target():
    # docs/keys.md "Revoked keys stop fast": every authorizer refuses a revoked key's
    # tokens within 75 s, whether the reload succeeds (max age + one read, 2 s at
    # most) or fails (the ring stops being trusted at twice the max age).
    assert MAX_RING_AGE_SECONDS + 2 <= 75
    assert 2 * MAX_RING_AGE_SECONDS <= 75
    assert RELOAD_INTERVAL_SECONDS <= MAX_RING_AGE_SECONDS


def _failing_source(clock, jwks):
    """A source that answers ``jwks["now"]`` and counts its calls; None makes it fail."""
    fetches = []

    def source():
        fetches.append(clock.now)
        if jwks["now"] is None:
            raise OSError("key source down")
        return jwks["now"]

    return source, fetches


def test_a_failed_reload_keeps_the_last_good_ring_until_twice_the_max_age(clock, caplog):
    signer = LocalSigner.generate("k1")
    good = {"keys": [public_jwk(signer.public_key(), "k1", "ES256")]}
    jwks = {"now": good}
    source, fetches = _failing_source(clock, jwks)
    ring = KeyRing(source, clock=clock, max_age=30)
    verifier = AccessTokenVerifier(
        ring, issuer=ISSUER, audience=AUDIENCE, max_lifetime=900, clock=clock
    )
    token = forge(signer, at(clock))
    first = verifier.verify(token)
    jwks["now"] = None  # the source starts failing right after a confirmation
    clock.advance(30)
    assert verifier.verify(token) is first  # stale, re-confirmation failed: kept
    assert len(fetches) == 2
    clock.advance(29.999)
    assert verifier.verify(forge(signer, at(clock, jti="late"))) is not None
    with caplog.at_level("ERROR", logger="authcore.keys.ring"):
        clock.advance(0.001)  # 60 s since the last confirmation: fail closed
        assert reason(verifier, token) == "keys_unconfirmed"
        assert reason(verifier, forge(signer, at(clock, jti="fresh"))) == "keys_unconfirmed"
    assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == [
        "key ring not re-confirmed for 60 s: refusing every token (fail closed)"
    ]
    # A failing source is retried at most every 5 s, never per request.
    assert fetches == [fetches[0], fetches[0] + 30, fetches[0] + 59.999]
    for _ in range(20):
        reason(verifier, token)
    assert len(fetches) == 3
    # The first successful reload restores trust.
    jwks["now"] = good
    clock.advance(5)
    assert verifier.verify(token) == first


@pytest.mark.parametrize(
    "answer", [{"keys": []}, {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}, {"keys": "x"}, []]
)
def test_a_reload_without_usable_keys_confirms_nothing(clock, answer):
    signer = LocalSigner.generate("k1")
    answers = [{"keys": [public_jwk(signer.public_key(), "k1", "ES256")]}, answer]
    ring = KeyRing(lambda: answers.pop(0) if len(answers) > 1 else answers[0], clock=clock)
    verifier = AccessTokenVerifier(
        ring, issuer=ISSUER, audience=AUDIENCE, max_lifetime=900, clock=clock
    )
    assert verifier.verify(forge(signer, at(clock)))
    clock.advance(MAX_RING_AGE_SECONDS)
    assert reason(verifier, forge(LocalSigner.generate("k2"), at(clock))) == "unknown_kid"
    assert verifier.verify(forge(signer, at(clock, jti="later")))
    assert ring.kids == {"k1"}
    clock.advance(MAX_RING_AGE_SECONDS)
    assert reason(verifier, forge(signer, at(clock, jti="too-late"))) == "keys_unconfirmed"


def test_an_empty_ring_retries_sooner_but_still_bounded(clock):
    fetches = []

    def source():
        fetches.append(clock.now)
        raise OSError("down")

    ring = KeyRing(source, clock=clock)
    for _ in range(20):
        with pytest.raises(KeysUnconfirmed):
            ring.get("k1")
    assert len(fetches) == 1
    clock.advance(4)
    with pytest.raises(KeysUnconfirmed):
        ring.get("k1")
    assert len(fetches) == 1
    clock.advance(1)
    with pytest.raises(KeysUnconfirmed):
        ring.get("k1")
    assert len(fetches) == 2


def test_a_ring_older_than_its_max_age_refreshes_on_the_next_lookup(clock):
    fetches = []
    signer = LocalSigner.generate("k1")

    def source():
        fetches.append(clock.now)
        return {"keys": [public_jwk(signer.public_key(), "k1", "ES256")]}

    ring = KeyRing(source, clock=clock, max_age=300)
    for _ in range(10):
        assert ring.get("k1") is not None
        clock.advance(29)
    assert len(fetches) == 1  # 290 s old
    clock.advance(10)
    assert ring.get("k1") is not None
    assert len(fetches) == 2


# ----------------------------------------------------- revocation of a signing key
def _revocation_setup(clock):
    old, new = LocalSigner.generate("old"), LocalSigner.generate("new")
    published = {
        "keys": [
            public_jwk(old.public_key(), "old", "ES256"),
            public_jwk(new.public_key(), "new", "ES256"),
        ]
    }
    ring = KeyRing(lambda: published, clock=clock)
    verifier = AccessTokenVerifier(
        ring, issuer=ISSUER, audience=AUDIENCE, max_lifetime=900, clock=clock
    )
    return old, new, published, verifier


def test_a_withdrawn_key_stops_working_at_the_next_reload_even_for_cached_tokens(clock):
    old, new, published, verifier = _revocation_setup(clock)
    revoked_token, kept_token = forge(old, at(clock)), forge(new, at(clock))
    assert verifier.verify(revoked_token)
    assert verifier.verify(kept_token)
    published["keys"] = [k for k in published["keys"] if k["kid"] != "old"]
    clock.advance(RELOAD_INTERVAL_SECONDS)
    # Any unknown kid triggers the reload that brings the new ring...
    reason(verifier, forge(LocalSigner.generate("probe"), at(clock)))
    # ...and from then on the withdrawn key's tokens fail, cached or not.
    assert reason(verifier, revoked_token) == "unknown_kid"
    assert reason(verifier, forge(old, at(clock, jti="fresh"))) == "unknown_kid"
    assert verifier.verify(kept_token)


def test_a_kid_republished_with_other_key_material_drops_its_cached_tokens(clock):
    old, new, published, verifier = _revocation_setup(clock)
    token = forge(old, at(clock))
    assert verifier.verify(token)
    replacement = LocalSigner.generate("old")
    published["keys"] = [
        public_jwk(replacement.public_key(), "old", "ES256"),
        public_jwk(new.public_key(), "new", "ES256"),
    ]
    clock.advance(60)
    reason(verifier, forge(LocalSigner.generate("probe"), at(clock)))
    assert reason(verifier, token) == "bad_signature"
    assert verifier.verify(forge(replacement, at(clock)))


def test_an_unchanged_reload_keeps_the_cache(clock):
    old, _, _, verifier = _revocation_setup(clock)
    token = forge(old, at(clock))
    claims_before = verifier.verify(token)
    clock.advance(60)
    reason(verifier, forge(LocalSigner.generate("probe"), at(clock)))
    assert verifier.verify(token) is claims_before


def test_a_stale_ring_refreshes_even_when_only_cached_tokens_arrive(clock):
    # Every request repeats one token: no unknown kid ever triggers a reload, the
    # ring's max age does, and the withdrawn key's token dies with it.
    old, _, published, verifier = _revocation_setup(clock)
    token = forge(old, at(clock))
    assert verifier.verify(token)
    published["keys"] = [k for k in published["keys"] if k["kid"] != "old"]
    clock.advance(MAX_RING_AGE_SECONDS - 0.001)
    assert verifier.verify(token)
    clock.advance(0.001)
    assert reason(verifier, token) == "unknown_kid"


# ------------------------------------------------------------ ECDSA malleability
def test_our_signers_write_low_s_only(signer):
    # OpenSSL (and KMS) pick s or n - s at random: 64 signatures without a high S
    # happen by chance once in 2**64.
    for i in range(64):
        raw = b64.decode(forge(signer, claims(jti=f"j{i}")).split(".")[2])
        assert int.from_bytes(raw[32:], "big") <= P256_N // 2


def test_the_high_s_twin_of_a_valid_token_is_refused(signer, verifier):
    token = forge(signer)
    h, p, sig = token.split(".")
    raw = b64.decode(sig)
    twin = raw[:32] + (P256_N - int.from_bytes(raw[32:], "big")).to_bytes(32, "big")
    # The same signature, mathematically: ECDSA verifies (r, n - s) whenever (r, s).
    r, s = int.from_bytes(twin[:32], "big"), int.from_bytes(twin[32:], "big")
    signer.public_key().verify(
        encode_dss_signature(r, s), f"{h}.{p}".encode(), ec.ECDSA(hashes.SHA256())
    )
    assert reason(verifier, f"{h}.{p}.{b64.encode(twin)}") == "bad_signature"
    assert verifier.verify(token)

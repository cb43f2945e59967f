"""The access-token verifier, organised by attack class."""

import hashlib
import hmac

import pytest
from authcore import b64
from authcore.clock import FrozenClock
from authcore.errors import InvalidToken
from authcore.keyring import KeyRing
from authcore.keys import LocalSigner, public_jwk
from authcore.tokens import Principal, issue_access_token
from authcore.verify import AccessTokenVerifier
from jwt_forge import AUDIENCE, ISSUER, NOW, claims, forge, segment


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
def verifier(signer, rsa_signer, clock):
    jwks = {
        "keys": [
            public_jwk(signer.public_key(), signer.kid, "ES256"),
            public_jwk(rsa_signer.public_key(), rsa_signer.kid, "RS256"),
        ]
    }
    ring = KeyRing(lambda: jwks, clock=clock)
    return AccessTokenVerifier(
        ring.get, issuer=ISSUER, audience=AUDIENCE, max_lifetime=900, leeway=60, clock=clock
    )


def reason(verifier, token):
    with pytest.raises(InvalidToken) as caught:
        verifier.verify(token)
    return caught.value.reason


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


def test_rs256_tokens_verify_with_their_pinned_key(rsa_signer, verifier):
    assert verifier.verify(forge(rsa_signer))["sub"] == "user-1"


# ------------------------------------------------------------- shape/size
@pytest.mark.parametrize(
    "token",
    [
        None,
        123,
        "",
        "a.b",
        "a.b.c.d",
        "a..c",
        "a.b.",
        "a.b.c=",
        "a+b.c.d",
        "a.b.c ",
        " a.b.c",
        '{"payload":"x","signatures":[]}',
    ],
)
def test_non_compact_forms_are_refused(verifier, token):
    assert reason(verifier, token) == "malformed"


def test_oversized_tokens_are_refused_before_decoding(signer, verifier):
    token = forge(signer, claims(pad="x" * 5000))
    assert reason(verifier, token) == "malformed"


# ------------------------------------------------------------ algorithms
@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE", "", "ES384", "RS256", "PS256"])
def test_alg_other_than_the_keys_pinned_one(signer, verifier, alg):
    header = {"alg": alg, "kid": signer.kid, "typ": "at+jwt"}
    assert reason(verifier, forge(signer, header=header)) == "wrong_alg"


def test_alg_none_with_empty_signature(signer, verifier):
    token = f"{segment({'alg': 'none', 'kid': signer.kid, 'typ': 'at+jwt'})}.{segment(claims())}."
    assert reason(verifier, token) == "malformed"


def test_hs256_keyed_with_our_public_key(signer, verifier):
    public_pem = public_jwk(signer.public_key(), signer.kid, "ES256")["x"].encode()
    header = {"alg": "HS256", "kid": signer.kid, "typ": "at+jwt"}
    h, p = segment(header), segment(claims())
    mac = hmac.new(public_pem, f"{h}.{p}".encode(), hashlib.sha256).digest()
    assert reason(verifier, f"{h}.{p}.{b64.encode(mac)}") == "wrong_alg"


def test_es_token_under_the_rsa_kid_is_refused(signer, rsa_signer, verifier):
    header = {"alg": "ES256", "kid": rsa_signer.kid, "typ": "at+jwt"}
    assert reason(verifier, forge(signer, header=header)) == "wrong_alg"


# ------------------------------------------------------------ header
@pytest.mark.parametrize("member", ["jwk", "jku", "x5u", "x5c", "x5t", "crit", "b64", "cty"])
def test_header_members_we_never_write_are_refused(signer, verifier, member):
    header = {"alg": "ES256", "kid": signer.kid, "typ": "at+jwt", member: "x"}
    assert reason(verifier, forge(signer, header=header)) == "forbidden_header"


@pytest.mark.parametrize("typ", [None, "JWT", "jwt", "at+JWT", "application/at+jwt", "rt+jwt", 1])
def test_typ_must_be_at_jwt(signer, verifier, typ):
    header = {"alg": "ES256", "kid": signer.kid, "typ": typ}
    if typ is None:
        del header["typ"]
    assert reason(verifier, forge(signer, header=header)) == "wrong_type"


@pytest.mark.parametrize(
    "kid",
    [None, 7, ["key-1"], "", "k" * 129, "../../../dev/null", "key-1' OR '1'='1", "key-1\x00"],
)
def test_bad_or_unknown_kid(signer, verifier, kid):
    header = {"alg": "ES256", "typ": "at+jwt"}
    if kid is not None:
        header["kid"] = kid
    assert reason(verifier, forge(signer, header=header)) in {"bad_kid", "unknown_kid"}


def test_duplicate_header_member(signer, verifier):
    raw = f'{{"alg":"ES256","kid":"{signer.kid}","typ":"at+jwt","alg":"none"}}'.encode()
    assert reason(verifier, forge(signer, raw_header=raw)) == "duplicate_member"


# ------------------------------------------------------------ payload
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


@pytest.mark.parametrize("raw", [b"[]", b'"x"', b"1", b"null", b'{"a":\xff}', b"{"])
def test_payload_must_be_a_utf8_json_object(signer, verifier, raw):
    assert reason(verifier, forge(signer, raw_payload=raw)) == "malformed"


@pytest.mark.parametrize(
    "override",
    [
        {"exp": str(NOW + 900)},
        {"exp": True},
        {"exp": None},
        {"iat": str(NOW)},
        {"iat": False},
        {"nbf": str(NOW)},
        {"nbf": True},
        {"exp": ...},
        {"iat": ...},
        {"sub": ...},
        {"jti": ...},
        {"sid": ...},
        {"sub": ""},
        {"sub": 1},
        {"scope": ["a"]},
    ],
)
def test_claim_types_and_presence(signer, verifier, override):
    assert reason(verifier, forge(signer, claims(**override))) == "bad_claims"


@pytest.mark.parametrize(
    "iss",
    [
        ISSUER + "/",
        ISSUER.upper(),
        "https://auth.example.com.evil",
        "https://auth.example",
        [ISSUER],
    ],
)
def test_issuer_is_exact(signer, verifier, iss):
    assert reason(verifier, forge(signer, claims(iss=iss))) in {"wrong_issuer", "bad_claims"}


@pytest.mark.parametrize("aud", ["API", "ap", "api ", ["api"], ["api", "other"], "other"])
def test_audience_is_exact(signer, verifier, aud):
    assert reason(verifier, forge(signer, claims(aud=aud))) in {"wrong_audience", "bad_claims"}


# ------------------------------------------------------------ time
def test_expiry_allows_at_most_sixty_seconds_of_leeway(signer, verifier, clock):
    token = forge(signer, claims())
    clock.now = NOW + 900 + 59
    assert verifier.verify(token)["sub"] == "user-1"
    clock.now = NOW + 900 + 60
    assert reason(verifier, token) == "expired"


def test_cached_tokens_still_expire(signer, verifier, clock):
    token = forge(signer, claims())
    verifier.verify(token)
    clock.now = NOW + 2000
    assert reason(verifier, token) == "expired"


@pytest.mark.parametrize("override", [{"iat": NOW + 61, "exp": NOW + 961}, {"nbf": NOW + 61}])
def test_not_yet_valid_or_issued_in_the_future(signer, verifier, override):
    assert reason(verifier, forge(signer, claims(**override))) == "not_yet_valid"


def test_lifetime_longer_than_configured_is_refused(signer, verifier):
    token = forge(signer, claims(exp=NOW + 901))
    assert reason(verifier, token) == "lifetime_too_long"


# ------------------------------------------------------------ signatures
def test_tampered_payload_fails_the_signature(signer, verifier):
    token = forge(signer, claims())
    h, _, s = token.split(".")
    assert reason(verifier, f"{h}.{segment(claims(sub='admin'))}.{s}") == "bad_signature"


@pytest.mark.parametrize(
    "signature",
    [
        b"\x00" * 64,
        b"\x00" * 32 + b"\x01" * 32,
        bytes.fromhex("FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551") * 2,
        b"\x01" * 63,
        b"\x01" * 65,
        b"\x30\x06\x02\x01\x01\x02\x01\x01",
    ],
)
def test_psychic_and_malformed_ecdsa_signatures(signer, verifier, signature):
    assert reason(verifier, forge(signer, signature=signature)) == "bad_signature"


def test_der_encoded_signature_is_refused(signer, verifier):
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    h, p = segment({"alg": "ES256", "kid": signer.kid, "typ": "at+jwt"}), segment(claims())
    der = signer._key.sign(f"{h}.{p}".encode(), ec.ECDSA(hashes.SHA256()))
    assert reason(verifier, f"{h}.{p}.{b64.encode(der)}") == "bad_signature"


def test_signature_by_another_key_with_our_kid(verifier):
    impostor = LocalSigner.generate("key-1")
    assert reason(verifier, forge(impostor)) == "bad_signature"


# ------------------------------------------------------------ key ring
def test_unknown_kid_reloads_at_most_once_per_minute_and_keeps_the_last_good_ring(clock):
    fetches = []
    first = LocalSigner.generate("k1")
    second = LocalSigner.generate("k2")
    published = {"keys": [public_jwk(first.public_key(), "k1", "ES256")]}

    def source():
        fetches.append(clock.now)
        if published is None:
            raise OSError("JWKS endpoint down")
        return published

    ring = KeyRing(source, clock=clock)
    verifier = AccessTokenVerifier(
        ring.get, issuer=ISSUER, audience=AUDIENCE, max_lifetime=900, clock=clock
    )
    assert verifier.verify(forge(first))["sub"] == "user-1"
    assert len(fetches) == 1
    for _ in range(50):  # a spray of unknown kids costs one fetch per minute
        reason(verifier, forge(second))
    assert len(fetches) == 1
    published["keys"].append(public_jwk(second.public_key(), "k2", "ES256"))
    clock.advance(60)
    assert verifier.verify(forge(second, claims(iat=clock.now, exp=clock.now + 900)))
    assert len(fetches) == 2
    # The endpoint fails: the last good ring keeps serving.
    published = None
    clock.advance(61)
    reason(verifier, forge(LocalSigner.generate("k3"), claims(iat=clock.now, exp=clock.now + 900)))
    assert len(fetches) == 3
    assert verifier.verify(forge(first, claims(iat=clock.now, exp=clock.now + 900)))


def test_keys_not_for_signatures_or_with_private_parts_are_ignored(clock):
    signer = LocalSigner.generate("k1")
    jwk = public_jwk(signer.public_key(), "k1", "ES256")
    for bad in (
        {**jwk, "use": "enc"},
        {**jwk, "key_ops": ["encrypt"]},
        {**jwk, "d": "AAAA"},
        {**jwk, "alg": "HS256"},
        {**jwk, "alg": "RS256"},
        {k: v for k, v in jwk.items() if k != "alg"},
    ):
        ring = KeyRing(lambda bad=bad: {"keys": [bad]}, clock=clock)
        assert ring.get("k1") is None


def test_an_empty_ring_retries_sooner_but_still_bounded(clock):
    fetches = []

    def source():
        fetches.append(clock.now)
        raise OSError("down")

    ring = KeyRing(source, clock=clock)
    for _ in range(20):
        assert ring.get("k1") is None
    assert len(fetches) == 1
    clock.advance(5)
    ring.get("k1")
    assert len(fetches) == 2

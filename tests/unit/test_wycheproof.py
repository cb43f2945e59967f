"""Project Wycheproof vectors, run through the project's own verifier code.

- ECDSA P-256 (IEEE P1363 signatures, our JWS format) and RSASSA-PKCS1-v1_5
  2048/SHA-256: each vector's key goes through our JWK parser and each signature
  through ``authcore.tokens.verify.verify_signature``, the function the verifier calls.
- JSON Web Signature: every vector goes through ``open_jws`` (our JWS layer:
  compact form, header allow-list, kid lookup in a ring built by our JWKS
  parser, pinned algorithm, signature) and through the full
  ``AccessTokenVerifier``.

Wherever we and Wycheproof disagree, the case is named below with the reason;
a case that starts or stops disagreeing fails the suite. The vectors live in
``tests/vectors/wycheproof`` (copied unchanged, see its README); if they are
missing the suite fails, it never skips.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from authcore import b64
from authcore.clock import FrozenClock
from authcore.errors import InvalidToken
from authcore.keys.ring import KeyRing, parse_jwks, public_key_from_jwk
from authcore.tokens.verify import AccessTokenVerifier, open_jws, verify_signature

ROOT = Path(__file__).resolve().parents[2]
VECTORS = ROOT / "tests" / "vectors" / "wycheproof"
JWS_FILE = "json_web_signature_test.json"
ECDSA_FILE = "ecdsa_secp256r1_sha256_p1363_test.json"
RSA_FILE = "rsa_signature_2048_sha256_test.json"


@cache
def load(name: str) -> dict[str, Any] | None:
    path = VECTORS / name
    return json.loads(path.read_text()) if path.is_file() else None


def cases(name: str) -> list[Any]:
    data = load(name)
    if data is None:
        # One failing case instead of none at all: a missing file must not pass.
        return [pytest.param(None, None, id="vectors-missing")]
    return [
        pytest.param(group, case, id=f"tc{case['tcId']}-{case['comment'] or 'plain'}")
        for group in data["testGroups"]
        for case in group["tests"]
    ]


def require(group: Any, name: str) -> None:
    if group is None:
        pytest.fail(f"Wycheproof vectors missing: {VECTORS / name} (tests/vectors/README.md)")


@pytest.mark.parametrize("name", [JWS_FILE, ECDSA_FILE, RSA_FILE])
def test_the_vector_files_are_present(name):
    data = load(name)
    assert data is not None, f"missing {VECTORS / name}"
    assert sum(len(group["tests"]) for group in data["testGroups"]) == data["numberOfTests"]


def accepts(check) -> bool:
    try:
        check()
    except InvalidToken:
        return False
    return True


# ---------------------------------------------------------------- ECDSA P-256
def _ec_jwk(group: dict[str, Any]) -> dict[str, Any]:
    jwk = group.get("publicKeyJwk")
    if jwk is None:  # a few groups give the point only
        point = group["publicKey"]
        x, y = (bytes.fromhex(point[c]).rjust(32, b"\0")[-32:] for c in ("wx", "wy"))
        jwk = {"kty": "EC", "crv": "P-256", "x": b64.encode(x), "y": b64.encode(y)}
    # Wycheproof's keys carry no alg/kid: pin them the way our JWKS does.
    return {**jwk, "kid": "wycheproof", "alg": "ES256", "use": "sig"}


# Every vector agrees but one class, named by rule rather than by number: the
# malleable high-S signatures. ECDSA and RFC 7518 allow them and Wycheproof calls
# them valid; we accept only low-S (s <= n/2), so a signed token has exactly one
# spelling (authcore.tokens.verify). Each such vector must be refused *and* its low-S twin
# (r, n - s) accepted: the refusal is the low-S rule and nothing else.
P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
ECDSA_DISAGREEMENTS: dict[int, str] = {}
HIGH_S = "high-S: the malleated spelling of a valid signature, refused (low-S only)"


def _high_s(case: dict[str, Any]) -> bool:
    sig = bytes.fromhex(case["sig"])
    return len(sig) == 64 and P256_N // 2 < int.from_bytes(sig[32:], "big") < P256_N


def _low_s_twin(sig_hex: str) -> bytes:
    sig = bytes.fromhex(sig_hex)
    return sig[:32] + (P256_N - int.from_bytes(sig[32:], "big")).to_bytes(32, "big")


@pytest.mark.parametrize(("group", "case"), cases(ECDSA_FILE))
def test_ecdsa_p256_p1363(group, case):
    require(group, ECDSA_FILE)
    key = public_key_from_jwk(_ec_jwk(group))
    msg = bytes.fromhex(case["msg"])
    accepted = accepts(lambda: verify_signature(key, msg, bytes.fromhex(case["sig"])))
    expected = case["result"] == "valid"
    if expected and _high_s(case):
        assert not accepted, HIGH_S
        assert accepts(lambda: verify_signature(key, msg, _low_s_twin(case["sig"])))
    elif case["tcId"] in ECDSA_DISAGREEMENTS:
        assert accepted is not expected, ECDSA_DISAGREEMENTS[case["tcId"]]
    else:
        assert accepted is expected


def test_the_high_s_rule_is_not_vacuous():
    """About half of Wycheproof's valid P-256 signatures are high-S: the rule above
    refuses a real share of them, and keeps accepting the low-S rest."""
    data = load(ECDSA_FILE)
    assert data is not None, f"missing {VECTORS / ECDSA_FILE}"
    valid = [c for g in data["testGroups"] for c in g["tests"] if c["result"] == "valid"]
    high = [c for c in valid if _high_s(c)]
    assert 10 <= len(high) < len(valid) - 10


# ---------------------------------------------------------------- RSA PKCS#1 v1.5
RSA_DISAGREEMENTS: dict[int, str] = {}
# "acceptable": Wycheproof allows either answer; we pin ours.
RSA_ACCEPTABLE: dict[int, tuple[bool, str]] = {
    8: (
        False,
        "DigestInfo without the NULL parameters: a legacy encoding OpenSSL refuses, and "
        "our issuer (KMS) never produces it",
    ),
}


@pytest.mark.parametrize(("group", "case"), cases(RSA_FILE))
def test_rsa_pkcs1_2048_sha256(group, case):
    require(group, RSA_FILE)
    key = public_key_from_jwk({**group["keyJwk"], "alg": "RS256", "use": "sig"})
    accepted = accepts(
        lambda: verify_signature(key, bytes.fromhex(case["msg"]), bytes.fromhex(case["sig"]))
    )
    tc = case["tcId"]
    if case["result"] == "acceptable":
        ours, why = RSA_ACCEPTABLE[tc]
        assert accepted is ours, why
    elif tc in RSA_DISAGREEMENTS:
        assert accepted is not (case["result"] == "valid"), RSA_DISAGREEMENTS[tc]
    else:
        assert accepted is (case["result"] == "valid")


# ---------------------------------------------------------------- JWS
def _ring(group: dict[str, Any]) -> KeyRing:
    """The group's key published the way a JWKS would publish it, parsed by us.
    Groups with only a symmetric ("oct") key yield an empty ring: we never
    accept a key that verifies and signs alike."""
    jwk = group.get("public") or group.get("private") or {}
    keys = parse_jwks({"keys": [jwk]})
    return KeyRing(lambda: {"keys": [jwk]} if keys else {"keys": []})


_UNSUPPORTED_ALG = "{alg}: outside our profile, which pins ES256 (P-256) or RS256 per key"
_SYMMETRIC = (
    "HS256: an HMAC key verifies and signs alike; a JWKS never publishes one and "
    "our parser refuses oct keys"
)
# Cases Wycheproof calls valid that our JWS layer refuses, with the reason.
# (No case goes the other way: we accept nothing Wycheproof calls invalid.)
JWS_DISAGREEMENTS: dict[int, str] = {
    1: _SYMMETRIC,
    348: _SYMMETRIC,
    352: _SYMMETRIC,
    357: _SYMMETRIC,
    358: _SYMMETRIC,
    359: _SYMMETRIC,
    376: _SYMMETRIC,
    377: _SYMMETRIC,
    # "?" inside a segment: Wycheproof lets a lenient base64 decoder skip it; we
    # refuse anything outside the base64url alphabet before decoding (and the
    # key is HS256 anyway).
    372: "a character outside base64url in the header is malformed, never skipped",
    373: "a character outside base64url in the payload is malformed, never skipped",
    # RFC 7515 allows an empty payload; an access token always has claims, and the
    # compact-form check (three non-empty segments) runs before any decoding.
    259: "an empty payload segment is malformed for us: an access token has claims",
    **{tc: _UNSUPPORTED_ALG.format(alg="RS384") for tc in (264, 265, 266, 267)},
    **{tc: _UNSUPPORTED_ALG.format(alg="RS512") for tc in (268, 269, 270, 271)},
    **{tc: _UNSUPPORTED_ALG.format(alg="PS256") for tc in (272, 273, 274, 275, 287, 288)},
    **{tc: _UNSUPPORTED_ALG.format(alg="PS384") for tc in (320, 321, 322, 323, 346, 350)},
    **{tc: _UNSUPPORTED_ALG.format(alg="PS512") for tc in (325, 326, 327, 328)},
    **{tc: _UNSUPPORTED_ALG.format(alg="ES512 (P-521)") for tc in (347, 351)},
    # RFC 7515's own ES256 example (Appendix A.3) happens to be high-S: we accept
    # only low-S signatures (see HIGH_S above); its low-S twin is accepted below.
    18: HIGH_S,
}


@pytest.mark.parametrize(("group", "case"), cases(JWS_FILE))
def test_jws_through_our_jws_layer(group, case):
    require(group, JWS_FILE)
    token = case["jws"]
    ring = _ring(group)
    accepted = isinstance(token, str) and accepts(lambda: open_jws(token, ring.get))
    expected = case["result"] == "valid"
    if case["tcId"] in JWS_DISAGREEMENTS:
        assert accepted is not expected, JWS_DISAGREEMENTS[case["tcId"]]
    else:
        assert accepted is expected


@pytest.mark.parametrize(("group", "case"), cases(JWS_FILE))
def test_jws_through_the_access_token_verifier(group, case):
    """No Wycheproof JWS is an access token: none carries ``typ: at+jwt`` (and
    their payloads are not claims), so the verifier refuses every one. For the
    vectors our JWS layer accepts, ``typ`` is the reason: refresh and ID tokens
    must never pass as access tokens (RFC 9068 §4)."""
    require(group, JWS_FILE)
    token = case["jws"]
    ring = _ring(group)
    verifier = AccessTokenVerifier(
        ring, issuer="https://issuer.example", audience="api", max_lifetime=900, clock=FrozenClock()
    )
    with pytest.raises(InvalidToken) as refused:
        verifier.verify(token)
    in_profile = case["result"] == "valid" and case["tcId"] not in JWS_DISAGREEMENTS
    if in_profile:
        assert refused.value.reason == "wrong_type"
        assert "typ" not in json.loads(b64.decode(token.split(".")[0]))


def test_the_named_jws_disagreements_exist():
    data = load(JWS_FILE)
    assert data is not None, f"missing {VECTORS / JWS_FILE}"
    ids = {case["tcId"] for group in data["testGroups"] for case in group["tests"]}
    assert set(JWS_DISAGREEMENTS) <= ids
    in_profile = [
        case["tcId"]
        for group in data["testGroups"]
        for case in group["tests"]
        if case["result"] == "valid" and case["tcId"] not in JWS_DISAGREEMENTS
    ]
    # The ES256 and RS256 vectors our JWS layer accepts (signature path exercised).
    assert in_profile == [33, 260, 261, 262, 263, 345, 349, 378]


def test_the_high_s_jws_vector_passes_once_its_signature_is_low_s():
    """tc18 is refused for its high S alone: the same token with (r, n - s) passes."""
    data = load(JWS_FILE)
    assert data is not None, f"missing {VECTORS / JWS_FILE}"
    group, case = next((g, c) for g in data["testGroups"] for c in g["tests"] if c["tcId"] == 18)
    h, p, sig = case["jws"].split(".")
    twin = f"{h}.{p}.{b64.encode(_low_s_twin(b64.decode(sig).hex()))}"
    ring = _ring(group)
    with pytest.raises(InvalidToken, match="invalid") as refused:
        open_jws(case["jws"], ring.get)
    assert refused.value.reason == "bad_signature"
    header, _, _ = open_jws(twin, ring.get)
    assert header["alg"] == "ES256"

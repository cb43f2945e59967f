"""The revocation feed's S3 GET is signed by hand (``authcore.sigv4``): its signature
must be botocore's own for the same request, byte for byte, path-style (a configured
endpoint, as moto serves) and virtual-hosted (the Region's endpoint).

No network: the source's one HTTP call (``source._get``) is replaced by a recorder,
and both signers read the same fixed time.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import botocore.auth
import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from authcore import sigv4
from authcore.revocation import source as source_module
from authcore.revocation.document import DELTA_KEY, SNAPSHOT_KEY
from authcore.revocation.source import FeedUnavailable, Fetched, S3FeedSource

WHEN = datetime(2027, 3, 4, 5, 6, 7, tzinfo=UTC)
ACCESS_KEY = "AKIDEXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
BUCKET = "auth-revocation-feed-123456789012"


@pytest.fixture
def fixed_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        botocore.auth,
        "get_current_datetime",
        lambda remove_tzinfo=True: WHEN.replace(tzinfo=None) if remove_tzinfo else WHEN,
    )
    monkeypatch.setattr(sigv4, "now", WHEN.timestamp)


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """What the source would have sent, instead of sending it."""
    requests: list[dict[str, Any]] = []

    def record(connection: Any, path: str, headers: dict[str, str]) -> Fetched:
        requests.append({"base": connection.url, "headers": dict(headers), "path": path})
        return Fetched(304, b"", '"etag"')

    monkeypatch.setattr(source_module._Connection, "get", record)
    return requests


def botocore_signed(url: str, region: str, token: str | None) -> AWSRequest:
    request = AWSRequest(method="GET", url=url)
    S3SigV4Auth(Credentials(ACCESS_KEY, SECRET, token), "s3", region).add_auth(request)
    return request


CASES = [
    pytest.param(
        {"AWS_REGION": "eu-west-1", "AWS_ENDPOINT_URL": "http://127.0.0.1:4566/"},
        "eu-west-1",
        "http://127.0.0.1:4566",
        f"/{BUCKET}",
        id="path-style, AWS_ENDPOINT_URL",
    ),
    pytest.param(
        {
            "AWS_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": "http://127.0.0.1:1",
            "AWS_ENDPOINT_URL_S3": "http://localhost:5000",
        },
        "us-east-1",
        "http://localhost:5000",
        f"/{BUCKET}",
        id="path-style, AWS_ENDPOINT_URL_S3 first",
    ),
    pytest.param(
        {"AWS_REGION": "eu-west-1"},
        "eu-west-1",
        f"https://{BUCKET}.s3.eu-west-1.amazonaws.com",
        "",
        id="virtual-hosted",
    ),
    pytest.param(
        {"AWS_DEFAULT_REGION": "ap-southeast-2"},
        "ap-southeast-2",
        f"https://{BUCKET}.s3.ap-southeast-2.amazonaws.com",
        "",
        id="virtual-hosted, AWS_DEFAULT_REGION",
    ),
    pytest.param(
        {"AWS_REGION": "cn-north-1"},
        "cn-north-1",
        f"https://{BUCKET}.s3.cn-north-1.amazonaws.com.cn",
        "",
        id="virtual-hosted, China",
    ),
]


@pytest.mark.parametrize("token", [None, "FwoGZXIvYXdzEJr//////////session+token="])
@pytest.mark.parametrize("key", [SNAPSHOT_KEY, DELTA_KEY])
@pytest.mark.parametrize(("env", "region", "base", "prefix"), CASES)
@pytest.mark.usefixtures("fixed_time")
def test_the_feed_sources_signature_is_botocores(sent, env, region, base, prefix, key, token):
    env = {**env, "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET}
    if token:
        env["AWS_SESSION_TOKEN"] = token
    assert S3FeedSource(BUCKET, env=env).fetch(key, '"etag"') == Fetched(304, b"", '"etag"')

    (request,) = sent
    assert request["base"] == base
    assert request["path"] == f"{prefix}/{key}"
    theirs = botocore_signed(f"{base}{prefix}/{key}", region, token)
    ours = request["headers"]
    assert ours["authorization"] == theirs.headers["Authorization"]
    assert ours["x-amz-date"] == theirs.headers["X-Amz-Date"] == "20270304T050607Z"
    assert ours["x-amz-content-sha256"] == theirs.headers["X-Amz-Content-SHA256"]
    assert ours["host"] == base.split("://", 1)[1]
    assert ours.get("x-amz-security-token") == theirs.headers.get("X-Amz-Security-Token") == token
    # The conditional GET: asked for, outside the signature (S3 does not require it signed).
    assert ours["if-none-match"] == '"etag"'
    assert "if-none-match" not in ours["authorization"]


@pytest.mark.usefixtures("fixed_time")
def test_a_first_fetch_asks_unconditionally(sent):
    env = {"AWS_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": "x"}
    S3FeedSource(BUCKET, env=env).fetch(SNAPSHOT_KEY, None)
    assert "if-none-match" not in sent[0]["headers"]


@pytest.mark.parametrize(
    "env",
    [
        {"AWS_REGION": "eu-west-1"},
        {"AWS_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": ACCESS_KEY},
        {"AWS_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": SECRET},
    ],
)
def test_without_credentials_nothing_is_sent_and_the_poll_fails(sent, env):
    with pytest.raises(FeedUnavailable) as raised:
        S3FeedSource(BUCKET, env=env).fetch(SNAPSHOT_KEY, None)
    assert raised.value.cause == "no_credentials"
    assert sent == []


@pytest.mark.parametrize(
    ("url", "host", "path"),
    [
        ("http://127.0.0.1:4566/feed/revocations/snapshot.json", "127.0.0.1:4566", None),
        (f"https://{BUCKET}.s3.eu-west-1.amazonaws.com/revocations/delta.json", None, None),
        # A key that needs encoding: S3 encodes the path once, never twice.
        (
            f"https://{BUCKET}.s3.eu-west-1.amazonaws.com/revocations/a%20b%2Bc%3D.json",
            None,
            "/revocations/a b+c=.json",
        ),
    ],
)
def test_signed_headers_for_an_s3_get_are_botocores(url, host, path):
    theirs = botocore_signed(url, "eu-west-1", None)
    when = datetime.strptime(theirs.headers["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    authority, _, rest = url.split("://", 1)[1].partition("/")
    ours = sigv4.signed_headers(
        method="GET",
        host=host or authority,
        path=path or f"/{rest}",
        region="eu-west-1",
        service="s3",
        credentials=sigv4.Credentials(ACCESS_KEY, SECRET),
        now=when.timestamp(),
    )
    assert ours["authorization"] == theirs.headers["Authorization"]
    assert ours["x-amz-content-sha256"] == theirs.headers["X-Amz-Content-SHA256"]
    assert "x-amz-security-token" not in ours


def test_a_wrong_secret_or_date_changes_the_signature():
    """The comparison above is not vacuous: every input is in the signature."""

    def sign(**changes: Any) -> str:
        args: dict[str, Any] = {
            "method": "GET",
            "host": f"{BUCKET}.s3.eu-west-1.amazonaws.com",
            "path": f"/{SNAPSHOT_KEY}",
            "region": "eu-west-1",
            "service": "s3",
            "credentials": sigv4.Credentials(ACCESS_KEY, SECRET),
            "now": WHEN.timestamp(),
        }
        args.update(changes)
        return sigv4.signed_headers(**args)["authorization"].rsplit("Signature=", 1)[1]

    base = sign()
    variants = [
        sign(credentials=sigv4.Credentials(ACCESS_KEY, SECRET + "x")),
        sign(now=WHEN.timestamp() + 1),
        sign(path=f"/{DELTA_KEY}"),
        sign(host=f"{BUCKET}.s3.eu-west-2.amazonaws.com"),
        sign(region="eu-west-2"),
        sign(method="HEAD"),
    ]
    assert len({base, *variants}) == len(variants) + 1


@pytest.mark.parametrize(
    "function",
    ["stack-AccountMailFunction-x1", "arn:aws:lambda:eu-west-1:123456789012:function:mail:live"],
)
def test_a_lambda_invoke_is_signed_as_botocore_signs_it(function):
    """Every service but S3 signs the path encoded twice: an ARN's ':' goes as %3A and is
    signed as %253A (the template hands the mail function's alias ARN to the routes)."""
    from urllib.parse import quote

    from botocore.auth import SigV4Auth

    path = f"/2015-03-31/functions/{function}/invocations"
    url = "https://lambda.eu-west-1.amazonaws.com" + quote(path, safe="/-_.~")
    theirs = AWSRequest(
        method="POST", url=url, data=b"{}", headers={"X-Amz-Invocation-Type": "Event"}
    )
    SigV4Auth(Credentials(ACCESS_KEY, SECRET), "lambda", "eu-west-1").add_auth(theirs)
    when = datetime.strptime(theirs.headers["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    ours = sigv4.signed_headers(
        method="POST",
        host="lambda.eu-west-1.amazonaws.com",
        path=path,
        region="eu-west-1",
        service="lambda",
        credentials=sigv4.Credentials(ACCESS_KEY, SECRET),
        now=when.timestamp(),
        headers={"x-amz-invocation-type": "Event"},
        payload_sha256=hashlib.sha256(b"{}").hexdigest(),
    )
    assert ours["authorization"] == theirs.headers["Authorization"]


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/2015-03-31/functions/arn:aws:lambda:eu-west-1:123456789012:function:mail/invocations",
        "/revocations/snapshot.json",
        "/a b/c+d/e%20f/~x_y-z.w",
        "/caf\u00e9/\u2603/\U0001f600",
        "".join(chr(c) for c in range(128)),
    ],
)
def test_uri_encode_is_quote_with_the_unreserved_characters_and_slash_safe(path):
    """SigV4's UriEncode; urllib.parse.quote, which it replaces, is the reference."""
    from urllib.parse import quote

    assert sigv4.uri_encode(path) == quote(path, safe="/-_.~")

"""AWS clients, created lazily and cached per container, and the translation of
their failures into domain errors at the boundary where they happen.

botocore is imported on first use, never by importing this module: the shared
modules that import it for ``unavailable_on_error`` also serve functions that make
no AWS call at all (``GET /api/me``), which would otherwise pay botocore's import,
the largest part of a cold start (issue #20)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from functools import cache
from typing import TYPE_CHECKING, Any, cast

from authcore.errors import TemporarilyUnavailable

if TYPE_CHECKING:
    import botocore.session
    from botocore.config import Config
    from botocore.exceptions import ClientError
    from types_boto3_dynamodb import DynamoDBClient
    from types_boto3_kms import KMSClient
    from types_boto3_lambda import LambdaClient
    from types_boto3_secretsmanager import SecretsManagerClient
    from types_boto3_sesv2 import SESV2Client


@cache
def default_config() -> Config:
    from botocore.config import Config

    # Fail fast: a login that waits 60 s on a sick dependency helps nobody, and API
    # Gateway gives up after 30 s anyway. Standard retries absorb brief throttling.
    return Config(
        connect_timeout=2,
        read_timeout=3,
        retries={"mode": "standard", "total_max_attempts": 3},
    )


@cache
def session() -> botocore.session.Session:
    """botocore's session, not boto3's: boto3 adds nothing to a client (its resources and
    S3 transfer manager go unused here) and its import on top of botocore's is paid at
    every cold start (35 ms measured on a slow development machine, where botocore's own
    is ~290 ms: botocore is the cost that remains). One per container, shared by the
    clients (the service models and credentials are loaded once). Region, credentials
    and AWS_ENDPOINT_URL come from the environment as with boto3."""
    import botocore.session

    return botocore.session.get_session()


def client(service: str, config: Config | None = None) -> Any:
    return session().create_client(service, config=config or default_config())


@cache
def dynamodb() -> DynamoDBClient:
    return cast("DynamoDBClient", client("dynamodb"))


@cache
def kms() -> KMSClient:
    return cast("KMSClient", client("kms"))


@cache
def secretsmanager() -> SecretsManagerClient:
    return cast("SecretsManagerClient", client("secretsmanager"))


@cache
def sesv2() -> SESV2Client:
    return cast("SESV2Client", client("sesv2"))


@cache
def lambda_client() -> LambdaClient:
    return cast("LambdaClient", client("lambda"))


@cache
def s3() -> Any:
    # Untyped: the feed's publisher makes two calls, not worth a stubs package.
    return client("s3")


def prime(*clients: Callable[[], object]) -> None:
    """Build ``clients`` now, during the function's init: Lambda runs an on-demand
    function's init on a full vCPU and its handler on the share its memory buys (AWS,
    "Effectively running Java on Serverless: utilize initialization phase"), and
    botocore's import and first client are most of a cold start's CPU (~150-200 ms on a
    full core, ``bench.coldstart``). A failure here (no region yet, say) is left to the
    first request that needs the client: it raises again there, inside the handler,
    where ``unavailable_on_error`` makes it a 503 instead of a container that cannot
    start."""
    with suppress(Exception):
        for client in clients:
            client()


def reset_clients() -> None:
    for cached in (session, dynamodb, kms, secretsmanager, sesv2, lambda_client, s3):
        cached.cache_clear()


def is_conditional_failure(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


@contextmanager
def conditional_failed(replacement: type[Exception]) -> Iterator[None]:
    """Turn a failed ConditionExpression into a domain exception."""
    from botocore.exceptions import ClientError

    try:
        yield
    except ClientError as exc:
        if is_conditional_failure(exc):
            raise replacement() from None
        raise


@contextmanager
def unavailable_on_error() -> Iterator[None]:
    """Any other AWS failure (throttling, 5xx, timeouts) is a 503; the original
    message is dropped since it may echo keys or table contents."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except ClientError as exc:
        if is_conditional_failure(exc):
            raise
        raise TemporarilyUnavailable() from None
    except BotoCoreError:
        raise TemporarilyUnavailable() from None

"""AWS clients, created lazily and cached per container, and the translation of
their failures into domain errors at the boundary where they happen."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from authcore.errors import TemporarilyUnavailable

if TYPE_CHECKING:
    from types_boto3_dynamodb import DynamoDBClient
    from types_boto3_kms import KMSClient
    from types_boto3_lambda import LambdaClient
    from types_boto3_secretsmanager import SecretsManagerClient
    from types_boto3_sesv2 import SESV2Client

# Fail fast: a login that waits 60 s on a sick dependency helps nobody, and API
# Gateway gives up after 30 s anyway. Standard retries absorb brief throttling.
_CONFIG = Config(
    connect_timeout=2,
    read_timeout=3,
    retries={"mode": "standard", "total_max_attempts": 3},
)


@cache
def dynamodb() -> DynamoDBClient:
    return boto3.client("dynamodb", config=_CONFIG)


@cache
def kms() -> KMSClient:
    return boto3.client("kms", config=_CONFIG)


@cache
def secretsmanager() -> SecretsManagerClient:
    return boto3.client("secretsmanager", config=_CONFIG)


@cache
def sesv2() -> SESV2Client:
    return boto3.client("sesv2", config=_CONFIG)


@cache
def lambda_client() -> LambdaClient:
    return boto3.client("lambda", config=_CONFIG)


@cache
def s3() -> Any:
    # Untyped: the feed's publisher makes two calls, not worth a stubs package.
    return boto3.client("s3", config=_CONFIG)


def reset_clients() -> None:
    for client in (dynamodb, kms, secretsmanager, sesv2, lambda_client, s3):
        client.cache_clear()


def is_conditional_failure(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


@contextmanager
def conditional_failed(replacement: type[Exception]) -> Iterator[None]:
    """Turn a failed ConditionExpression into a domain exception."""
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
    try:
        yield
    except ClientError as exc:
        if is_conditional_failure(exc):
            raise
        raise TemporarilyUnavailable() from None
    except BotoCoreError:
        raise TemporarilyUnavailable() from None

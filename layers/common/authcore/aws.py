"""AWS clients, created lazily and cached per container, and the translation of
their failures into domain errors at the boundary where they happen.

The clients are ``authcore.awsjson``'s: signed HTTPS requests, standard library only.
botocore's import and first client were the largest part of every cold start that
called AWS (150-300 ms of CPU, ``bench.coldstart``, issue #20)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import TYPE_CHECKING, cast

from authcore.awsjson import KMS, AwsError, DynamoDB, Lambda, SecretsManager, ServiceError, SESv2
from authcore.errors import TemporarilyUnavailable

if TYPE_CHECKING:
    from types_boto3_dynamodb import DynamoDBClient
    from types_boto3_kms import KMSClient
    from types_boto3_lambda import LambdaClient
    from types_boto3_secretsmanager import SecretsManagerClient
    from types_boto3_sesv2 import SESV2Client

# Typed as botocore's clients (the stubs of types-boto3): the awsjson clients take the
# same requests and give the same answers for the calls they make, so mypy checks every
# request a store builds against the service's model.


@cache
def dynamodb() -> DynamoDBClient:
    return cast("DynamoDBClient", DynamoDB())


@cache
def kms() -> KMSClient:
    return cast("KMSClient", KMS())


@cache
def secretsmanager() -> SecretsManagerClient:
    return cast("SecretsManagerClient", SecretsManager())


@cache
def sesv2() -> SESV2Client:
    return cast("SESV2Client", SESv2())


@cache
def lambda_client() -> LambdaClient:
    return cast("LambdaClient", Lambda())


def reset_clients() -> None:
    for cached in (dynamodb, kms, secretsmanager, sesv2, lambda_client):
        cached.cache_clear()


def is_conditional_failure(exc: ServiceError) -> bool:
    return exc.code == "ConditionalCheckFailedException"


@contextmanager
def conditional_failed(replacement: type[Exception]) -> Iterator[None]:
    """Turn a failed ConditionExpression into a domain exception."""
    try:
        yield
    except ServiceError as exc:
        if is_conditional_failure(exc):
            raise replacement() from None
        raise


@contextmanager
def unavailable_on_error() -> Iterator[None]:
    """Any other AWS failure (throttling, 5xx, timeouts) is a 503; the original
    message is dropped since it may echo keys or table contents."""
    try:
        yield
    except ServiceError as exc:
        if is_conditional_failure(exc):
            raise
        raise TemporarilyUnavailable() from None
    except AwsError:
        raise TemporarilyUnavailable() from None

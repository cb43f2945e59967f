"""The OAuth function's wiring (machine clients), on top of ``runtime.signing``'s."""

from __future__ import annotations

from functools import cache

from authcore import aws
from authcore.clients.dynamo import DynamoClientStore
from authcore.clients.service import ClientService
from authcore.runtime import signing


@cache
def client_store() -> DynamoClientStore:
    return DynamoClientStore(aws.dynamodb(), signing.settings().clients_table_name)


@cache
def client_service() -> ClientService:
    settings = signing.settings()
    return ClientService(
        settings,
        clients=client_store(),
        signer=signing.signer,
        pepper=settings.client_secret_pepper_value.encode(),
        sessions=signing.sessions(),
        verify_access=signing.verify_access,
        clock=signing.clock(),
        on_security_event=signing.security_event,
    )


def reset() -> None:
    for cached in (client_store, client_service):
        cached.cache_clear()

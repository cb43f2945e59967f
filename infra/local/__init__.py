"""The local stack: the whole API of template.yaml on one machine, no Docker, no AWS account.

``python -m infra.local`` starts moto in server mode (DynamoDB and KMS), creates the
tables and the signing key from template.yaml's own definitions, runs every function
in a worker process of its own (a stand-in for a Lambda execution environment) and
serves the HTTP API the way API Gateway's HTTP API would: payload format 2.0, the
Lambda REQUEST authorizer with simple responses before every protected route.

This module stays light: the worker processes import it too.
"""

from __future__ import annotations

from infra.devkit.environment import ACCOUNT_ID, FAKE_CREDENTIALS, PYTHONPATH, REGION, ROOT

__all__ = ["ACCOUNT_ID", "FAKE_CREDENTIALS", "PYTHONPATH", "REGION", "ROOT"]

"""The local stack: the whole API of template.yaml on one machine, no Docker, no AWS account.

``python -m infra.local`` starts moto in server mode (DynamoDB and KMS), creates the
tables and the signing key from template.yaml's own definitions, runs every function
in a worker process of its own (a stand-in for a Lambda execution environment) and
serves the HTTP API the way API Gateway's HTTP API would: payload format 2.0, the
Lambda REQUEST authorizer with simple responses before every protected route.

This module stays light: the worker processes import it too.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# What Lambda puts on sys.path for our code: the function folders' parent (the
# handlers are imported as ``functions.<name>.app``) and the layer's content.
PYTHONPATH = (ROOT, ROOT / "layers" / "common")
REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
# Never real credentials: moto accepts anything, and a stray call can reach no account.
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}

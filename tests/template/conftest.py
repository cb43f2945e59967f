"""Shared fixtures of the template checks: template.yaml as data, and its offline translation.

The translation is what CloudFormation's `AWS::Serverless-2016-10-31` transform produces, so the
least-privilege tests read the roles, permissions and routes that would actually be deployed,
not the SAM shorthand that generates them.
"""

import copy
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from samtranslator.translator.managed_policy_translator import ManagedPolicyLoader
from samtranslator.translator.transform import transform

from infra import template

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
REGION = "us-east-1"

# What `sam deploy` would pass for the pseudo parameters; the template's own parameters keep their
# defaults (the translator fills them in).
PSEUDO_PARAMETERS = {
    "AWS::Region": REGION,
    "AWS::Partition": "aws",
    "AWS::AccountId": "123456789012",
    "AWS::StackName": "auth-test",
    "AWS::URLSuffix": "amazonaws.com",
}

# The AWS managed policies a function may carry. The translator resolves policy names through this
# map (or its bundled copy of it) instead of calling iam:ListPolicies, so no credentials are needed.
MANAGED_POLICIES = {
    "AWSLambdaBasicExecutionRole": (
        "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
    ),
    "AWSXrayWriteOnlyAccess": "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
}


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    """A fresh copy, read as infra.template reads it (the SAM translator's loader)."""
    return template.parse(path)


class _StaticManagedPolicyLoader(ManagedPolicyLoader):
    def __init__(self) -> None:
        super().__init__(iam_client=None)  # type: ignore[arg-type]

    def load(self) -> dict[str, str]:
        return dict(MANAGED_POLICIES)


def translate(sam_template: dict[str, Any]) -> dict[str, Any]:
    """Translate a SAM template to plain CloudFormation, offline, as `sam package` + deploy would.

    Local CodeUri/ContentUri folders become the S3 locations `sam package` would upload them to.
    """
    document = copy.deepcopy(sam_template)
    for resource in document.get("Resources", {}).values():
        properties = resource.get("Properties") or {}
        for key in ("CodeUri", "ContentUri"):
            uri = properties.get(key)
            if isinstance(uri, str) and not uri.startswith("s3://"):
                properties[key] = f"s3://artifacts-bucket/{uri.strip('/')}.zip"
    # The translator asks boto3 for the region even when AWS::Region is given.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_DEFAULT_REGION", REGION)
        return transform(document, dict(PSEUDO_PARAMETERS), _StaticManagedPolicyLoader())


@pytest.fixture(scope="session")
def sam_template() -> dict[str, Any]:
    """template.yaml as plain data (short-form tags expanded)."""
    return load_template()


@pytest.fixture(scope="session")
def cfn_template(sam_template: dict[str, Any]) -> dict[str, Any]:
    """template.yaml translated to plain CloudFormation (read-only: tests must not mutate it)."""
    return translate(sam_template)


@pytest.fixture(scope="session")
def translate_sam():
    """The translation itself, for tests that check what a modified template would become."""
    return translate


@pytest.fixture(scope="session")
def sam_cli() -> str:
    """The SAM CLI of `.venv-sam` (the Makefile passes it as SAM_CLI). Missing is a failure."""
    candidate = os.environ.get("SAM_CLI") or str(ROOT / ".venv-sam" / "bin" / "sam")
    resolved = shutil.which(candidate)
    if resolved is None:
        pytest.fail(
            f"SAM CLI not found at {candidate!r}: run `make sam-cli` or set SAM_CLI to its path"
        )
    return resolved


@pytest.fixture(scope="session")
def sam_env() -> dict[str, str]:
    """Environment for SAM CLI calls: offline-safe region and dummy credentials, no telemetry."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")
    }
    env.update(
        AWS_DEFAULT_REGION=REGION,
        AWS_REGION=REGION,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        SAM_CLI_TELEMETRY="0",
    )
    return env

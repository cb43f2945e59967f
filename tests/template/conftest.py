"""Shared fixtures of the template checks: template.yaml and its nested applications' templates
(infra/<name>/template.yaml) as data, and their offline translation.

The translation is what CloudFormation's `AWS::Serverless-2016-10-31` transform produces, so the
least-privilege tests read the roles, permissions and routes that would actually be deployed,
not the SAM shorthand that generates them. A nested application becomes an
`AWS::CloudFormation::Stack`; `as_passed` reads a nested template's values the way the parent
stack fills them in, so a check of a moved resource still names the parent's parameters and
resources.
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


def nested_locations(sam_template: dict[str, Any]) -> dict[str, Path]:
    """Each nested application of the template (logical id -> its template on disk)."""
    return {
        name: ROOT / resource["Properties"]["Location"]
        for name, resource in sam_template["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Application"
    }


# Every template of the stack, by the name the checks are reported under: the main one, then
# each nested application's.
TEMPLATES = {"template.yaml": TEMPLATE} | {
    name: path for name, path in nested_locations(load_template()).items()
}


def as_passed(value: Any, stack: dict[str, Any]) -> Any:
    """A nested template's value as the parent stack fills it in: each `Ref` to one of the
    nested template's parameters becomes what the parent passes (`stack` is the parent's
    translated `AWS::CloudFormation::Stack`); anything else is left as it is."""
    passed = stack["Properties"]["Parameters"]
    if isinstance(value, dict):
        if list(value) == ["Ref"] and value["Ref"] in passed:
            return passed[value["Ref"]]
        return {key: as_passed(item, stack) for key, item in value.items()}
    if isinstance(value, list):
        return [as_passed(item, stack) for item in value]
    return value


def nested_output(
    value: Any, parent: dict[str, Any], nested: dict[str, dict[str, Any]]
) -> tuple[str, Any]:
    """`!GetAtt App.Outputs.Name` of the parent -> (App, the nested output's Value)."""
    application, attribute = value["Fn::GetAtt"]
    assert parent["Resources"][application]["Type"] == "AWS::CloudFormation::Stack"
    kind, _, name = attribute.partition(".")
    assert kind == "Outputs", value
    return application, nested[application]["Outputs"][name]["Value"]


class _StaticManagedPolicyLoader(ManagedPolicyLoader):
    def __init__(self) -> None:
        super().__init__(iam_client=None)  # type: ignore[arg-type]

    def load(self) -> dict[str, str]:
        return dict(MANAGED_POLICIES)


def translate(
    sam_template: dict[str, Any], parameters: dict[str, str] | None = None
) -> dict[str, Any]:
    """Translate a SAM template to plain CloudFormation, offline, as `sam package` + deploy would,
    with these ``parameters`` (the others keep their defaults): CloudFormation hands the
    transform the stack's parameter values, and some properties (Tracing) are decided on them.

    Local CodeUri/ContentUri folders become the S3 locations `sam package` would upload them to.
    Nested applications' local templates become the https URLs `sam package` uploads them to.
    """
    document = copy.deepcopy(sam_template)
    for resource in document.get("Resources", {}).values():
        properties = resource.get("Properties") or {}
        for key in ("CodeUri", "ContentUri"):
            uri = properties.get(key)
            if isinstance(uri, str) and not uri.startswith("s3://"):
                properties[key] = f"s3://artifacts-bucket/{uri.strip('/')}.zip"
        location = properties.get("Location")
        if resource.get("Type") == "AWS::Serverless::Application" and isinstance(location, str):
            properties["Location"] = f"https://artifacts-bucket.s3.amazonaws.com/{location}"
    # The translator asks boto3 for the region even when AWS::Region is given.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_DEFAULT_REGION", REGION)
        values = dict(PSEUDO_PARAMETERS) | dict(parameters or {})
        return transform(document, values, _StaticManagedPolicyLoader())


@pytest.fixture(scope="session")
def sam_template() -> dict[str, Any]:
    """template.yaml as plain data (short-form tags expanded)."""
    return load_template()


@pytest.fixture(scope="session")
def cfn_template(sam_template: dict[str, Any]) -> dict[str, Any]:
    """template.yaml translated to plain CloudFormation (read-only: tests must not mutate it)."""
    return translate(sam_template)


@pytest.fixture(scope="session")
def nested_sam_templates(sam_template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each nested application's template as plain data, by the application's logical id."""
    return {name: load_template(path) for name, path in nested_locations(sam_template).items()}


@pytest.fixture(scope="session")
def nested_cfn_templates(
    nested_sam_templates: dict[str, dict[str, Any]],
) -> dict[str, dict[str, Any]]:
    """Each nested application's template translated as its own stack would be (read-only)."""
    return {name: translate(template) for name, template in nested_sam_templates.items()}


@pytest.fixture(scope="session")
def edge_template(nested_cfn_templates: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """infra/edge/template.yaml, translated: CloudFront and the login web ACL (opt-in)."""
    return nested_cfn_templates["Edge"]


@pytest.fixture(scope="session")
def alarms_template(nested_cfn_templates: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """infra/alarms/template.yaml, translated: the stack's CloudWatch alarms."""
    return nested_cfn_templates["Alarms"]


@pytest.fixture(scope="session")
def every_cfn_template(
    cfn_template: dict[str, Any], nested_cfn_templates: dict[str, dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """Every template of the stack, translated, by the names of TEMPLATES."""
    return {"template.yaml": cfn_template} | nested_cfn_templates


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

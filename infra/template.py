"""Read template.yaml: the single source of the tables, keys, functions and routes
that the tests and the local stack build, so they cannot drift from what deploys."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from samtranslator.yaml_helper import yaml_parse  # type: ignore[import-untyped]

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"


def parse(path: Path = TEMPLATE) -> dict[str, Any]:
    """A template as data, read fresh, with the short-form tags in their long JSON form
    (``!Ref X`` -> ``{"Ref": X}``, ``!Condition X`` -> ``{"Condition": X}``, ``!GetAtt A.B``
    -> ``{"Fn::GetAtt": [A, B]}``, ``!Sub``/``!If``/... -> ``{"Fn::Sub": ...}``...), by
    the AWS SAM translator's loader (the AWS CLI's, copied), not one of our own. That
    loader registers the tags on ``yaml.SafeLoader`` itself, for the whole process."""
    document: dict[str, Any] = yaml_parse(path.read_text(encoding="utf-8"))
    return document


@cache
def load(path: Path = TEMPLATE) -> dict[str, Any]:
    """``parse``, once per process: shared, never to be mutated (copy it first)."""
    return parse(path)


def resources(kind: str, path: Path = TEMPLATE) -> dict[str, dict[str, Any]]:
    return {
        name: resource
        for name, resource in load(path)["Resources"].items()
        if resource.get("Type") == kind
    }


def parameter_defaults(path: Path = TEMPLATE) -> dict[str, str]:
    return {
        name: str(spec.get("Default", ""))
        for name, spec in load(path).get("Parameters", {}).items()
    }


def table_definition(logical_id: str, table_name: str, path: Path = TEMPLATE) -> dict[str, Any]:
    """CreateTable arguments for one AWS::DynamoDB::Table of the template."""
    props = resources("AWS::DynamoDB::Table", path)[logical_id]["Properties"]
    definition: dict[str, Any] = {
        "TableName": table_name,
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
    }
    if props.get("GlobalSecondaryIndexes"):
        definition["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
    stream = props.get("StreamSpecification")
    if stream:
        definition["StreamSpecification"] = {"StreamEnabled": True, **stream}
    return definition


def ttl_attribute(logical_id: str, path: Path = TEMPLATE) -> str | None:
    props = resources("AWS::DynamoDB::Table", path)[logical_id]["Properties"]
    spec = props.get("TimeToLiveSpecification") or {}
    return spec.get("AttributeName") if spec.get("Enabled") else None


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    function: str
    authorized: bool


@dataclass(frozen=True)
class Function:
    logical_id: str
    code_uri: str
    handler: str
    environment: dict[str, Any] = field(default_factory=dict)

    @property
    def module(self) -> str:
        """The import path of the handler module, as Lambda resolves it from CodeUri."""
        package = self.code_uri.strip("/").replace("/", ".")
        return f"{package}.{self.handler.rsplit('.', 1)[0]}"

    @property
    def attribute(self) -> str:
        return self.handler.rsplit(".", 1)[1]


def functions(path: Path = TEMPLATE) -> dict[str, Function]:
    document = load(path)
    global_env = (
        document.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    )
    found = {}
    for name, resource in resources("AWS::Serverless::Function", path).items():
        props = resource["Properties"]
        env = dict(global_env)
        env.update(props.get("Environment", {}).get("Variables", {}))
        found[name] = Function(name, props["CodeUri"], props["Handler"], env)
    return found


def default_authorizer(path: Path = TEMPLATE) -> tuple[str | None, str | None]:
    """(authorizer name, its function's logical id) of the HttpApi's default authorizer."""
    for api in resources("AWS::Serverless::HttpApi", path).values():
        auth = api["Properties"].get("Auth", {})
        name = auth.get("DefaultAuthorizer")
        if name:
            return name, authorizer_function(auth["Authorizers"][name]["FunctionArn"])
    return None, None


def authorizer_function(arn: Any) -> str | None:
    """The logical id of the function an authorizer's FunctionArn names: `!Ref F.Alias`
    (its alias `live`, as deployed; locally the function itself) or `!GetAtt F.Arn`."""
    if isinstance(arn, dict) and isinstance(arn.get("Ref"), str):
        return str(arn["Ref"]).removesuffix(".Alias") if arn["Ref"].endswith(".Alias") else None
    if isinstance(arn, dict) and "Fn::GetAtt" in arn:
        return str(arn["Fn::GetAtt"][0])
    return None


def routes(path: Path = TEMPLATE) -> list[Route]:
    default_name, _ = default_authorizer(path)
    found = []
    for name, resource in resources("AWS::Serverless::Function", path).items():
        for event in resource["Properties"].get("Events", {}).values():
            if event.get("Type") != "HttpApi":
                continue
            props = event["Properties"]
            authorizer = props.get("Auth", {}).get("Authorizer", default_name)
            found.append(
                Route(
                    method=props["Method"].upper(),
                    path=props["Path"],
                    function=name,
                    authorized=bool(authorizer) and authorizer != "NONE",
                )
            )
    return found

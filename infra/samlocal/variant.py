"""The template as `sam local` runs it on this machine.

The same resources, handlers and environment as template.yaml, with four differences, each
forced by running offline on one machine: the functions and the layer are built for the
machine's architecture (the deployed stack is arm64, and the emulator runs natively); code
paths and the nested applications' templates are absolute (the variant lives under .aws-sam/);
``AWS_ENDPOINT_URL`` (``AWS_ENDPOINT_URL_LAMBDA``) is declared so that SAM passes it into
the containers (it passes only declared variables): the local stack's moto server (its Lambda
API) as seen from a container; and the authorizers name their function by ``!GetAtt F.Arn``
instead of its alias (``!Ref F.Alias``), which ``sam local start-api`` does not resolve: it
then serves the protected routes with no authorizer at all.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

from infra import template
from infra.samlocal.common import ROOT
from infra.samlocal.image import ARCH

EXTRA_VARIABLES = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_LAMBDA")


def write(path: Path) -> Path:
    document = copy.deepcopy(template.load())
    functions = document["Globals"]["Function"]
    functions["Architectures"] = [ARCH]
    functions["Environment"]["Variables"].update(dict.fromkeys(EXTRA_VARIABLES, ""))
    for resource in document["Resources"].values():
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::Serverless::Function":
            properties["CodeUri"] = str(ROOT / properties["CodeUri"])
        elif resource["Type"] == "AWS::Serverless::LayerVersion":
            properties["ContentUri"] = str(ROOT / properties["ContentUri"])
            properties["CompatibleArchitectures"] = [ARCH]
            resource.setdefault("Metadata", {})["BuildArchitecture"] = ARCH
        elif resource["Type"] == "AWS::Serverless::Application":
            properties["Location"] = str(ROOT / properties["Location"])
        for authorizer in properties.get("Auth", {}).get("Authorizers", {}).values():
            function = template.authorizer_function(authorizer.get("FunctionArn"))
            if function is not None:
                authorizer["FunctionArn"] = {"Fn::GetAtt": [function, "Arn"]}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=1))
    return path

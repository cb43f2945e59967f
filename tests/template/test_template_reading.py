"""template.yaml is read one way everywhere: the SAM translator's loader (infra.template),
its short-form tags in the long form CloudFormation's JSON uses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from infra import template

SHORT_FORMS = """
Conditions:
  IsProd: !Equals [!Ref Stage, prod]
  NotProd: !Not [!Condition IsProd]
  Both: !And [!Condition IsProd, !Or [!Condition NotProd, !Condition IsProd]]
Resources:
  Thing:
    Properties:
      Name: !Sub "${AWS::StackName}-thing"
      Pair: !Sub ["${A}", {A: !Ref Stage}]
      Arn: !GetAtt Table.Arn
      ArnList: !GetAtt [Table, StreamArn]
      Maybe: !If [IsProd, !Ref Stage, !Ref AWS::NoValue]
      Parts: !Split [",", !Ref Origins]
      Whole: !Join ["", [a, !Ref Stage]]
      Mapped: !FindInMap [Map, !Ref Stage, key]
      First: !Select [0, !GetAZs ""]
      Imported: !ImportValue other-stack-output
      Encoded: !Base64 text
"""

LONG_FORMS = {
    "Conditions": {
        "IsProd": {"Fn::Equals": [{"Ref": "Stage"}, "prod"]},
        "NotProd": {"Fn::Not": [{"Condition": "IsProd"}]},
        "Both": {
            "Fn::And": [
                {"Condition": "IsProd"},
                {"Fn::Or": [{"Condition": "NotProd"}, {"Condition": "IsProd"}]},
            ]
        },
    },
    "Resources": {
        "Thing": {
            "Properties": {
                "Name": {"Fn::Sub": "${AWS::StackName}-thing"},
                "Pair": {"Fn::Sub": ["${A}", {"A": {"Ref": "Stage"}}]},
                "Arn": {"Fn::GetAtt": ["Table", "Arn"]},
                "ArnList": {"Fn::GetAtt": ["Table", "StreamArn"]},
                "Maybe": {"Fn::If": ["IsProd", {"Ref": "Stage"}, {"Ref": "AWS::NoValue"}]},
                "Parts": {"Fn::Split": [",", {"Ref": "Origins"}]},
                "Whole": {"Fn::Join": ["", ["a", {"Ref": "Stage"}]]},
                "Mapped": {"Fn::FindInMap": ["Map", {"Ref": "Stage"}, "key"]},
                "First": {"Fn::Select": [0, {"Fn::GetAZs": ""}]},
                "Imported": {"Fn::ImportValue": "other-stack-output"},
                "Encoded": {"Fn::Base64": "text"},
            }
        }
    },
}


def _keys(node: Any) -> set[str]:
    if isinstance(node, dict):
        return set(node).union(*(_keys(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_keys(v) for v in node))
    return set()


def test_every_short_form_tag_comes_out_in_its_long_form(tmp_path: Path) -> None:
    path = tmp_path / "template.yaml"
    path.write_text(SHORT_FORMS, encoding="utf-8")
    assert template.parse(path) == LONG_FORMS


def test_the_tests_the_local_stack_and_sam_local_read_the_same_document(
    sam_template: dict[str, Any], tmp_path: Path
) -> None:
    from infra.samlocal import variant

    assert template.load() == sam_template
    assert template.parse() == sam_template
    assert template.load() is not sam_template  # the fixture's copy is its own
    written = json.loads(variant.write(tmp_path / "variant.json").read_text())
    assert written["Conditions"] == sam_template["Conditions"]
    assert written["Outputs"] == sam_template["Outputs"]
    # Ref and Condition take no Fn:: prefix; every other intrinsic does.
    assert not {"Fn::Ref", "Fn::Condition"} & _keys(sam_template)
    assert not {"Fn::Ref", "Fn::Condition"} & _keys(written)


def test_sam_local_runs_every_authorizer_by_its_function_arn(tmp_path: Path) -> None:
    """Deployed, an authorizer runs its function's alias (`!Ref F.Alias`); `sam local
    start-api` does not resolve that and would serve the protected routes with no
    authorizer at all, so its variant names the function itself."""
    from infra.samlocal import variant

    written = json.loads(variant.write(tmp_path / "variant.json").read_text())
    deployed = template.load()
    seen = 0
    for logical_id, resource in written["Resources"].items():
        authorizers = resource.get("Properties", {}).get("Auth", {}).get("Authorizers", {})
        for name, authorizer in authorizers.items():
            original = deployed["Resources"][logical_id]["Properties"]["Auth"]["Authorizers"][name]
            if "FunctionArn" not in original:
                continue  # not a Lambda authorizer
            function = template.authorizer_function(original["FunctionArn"])
            assert original["FunctionArn"] == {"Ref": f"{function}.Alias"}
            assert authorizer["FunctionArn"] == {"Fn::GetAtt": [function, "Arn"]}
            seen += 1
    assert seen == 3

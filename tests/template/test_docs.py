"""docs/configuration.md names every knob the template has: each parameter of template.yaml and
each environment variable it sets on a function."""

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.template

ROOT = Path(__file__).resolve().parents[2]
CONFIGURATION = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")


def _documented(name: str) -> bool:
    return re.search(rf"`{re.escape(name)}[`=]", CONFIGURATION) is not None


def test_the_readme_links_the_configuration_page():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "(docs/configuration.md)" in readme


def test_every_template_parameter_is_documented(sam_template):
    assert [p for p in sam_template["Parameters"] if not _documented(p)] == []


def test_every_function_variable_is_documented(sam_template):
    variables = set(sam_template["Globals"]["Function"]["Environment"]["Variables"])
    for resource in sam_template["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            properties = resource["Properties"]
            variables |= set(properties.get("Environment", {}).get("Variables", {}))
    assert sorted(v for v in variables if not _documented(v)) == []

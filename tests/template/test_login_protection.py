"""Template facts of the login hardening: throttling, the lockout key, expiring counters, and
the opt-in edge (CloudFront + AWS WAF, the nested application infra/edge/template.yaml)."""

import json
import re

import pytest

from tests.template.conftest import as_passed, nested_output

pytestmark = pytest.mark.template


def stage(cfn_template):
    (found,) = [
        resource["Properties"]
        for resource in cfn_template["Resources"].values()
        if resource["Type"] == "AWS::ApiGatewayV2::Stage"
    ]
    return found


def test_the_stage_throttles_every_route_with_parameters(cfn_template):
    settings = stage(cfn_template)["DefaultRouteSettings"]
    assert settings == {
        "ThrottlingRateLimit": {"Ref": "ThrottlingRateLimit"},
        "ThrottlingBurstLimit": {"Ref": "ThrottlingBurstLimit"},
    }


def test_the_login_route_has_a_tighter_throttle_of_its_own(cfn_template, sam_template):
    # The route key must be the login route's own (it is an ANY route), or the
    # setting silently applies to nothing.
    # The other routes that cost an argon2id hash or may send a mail share the limits, and
    # so do the passkey sign-in routes (each options request stores a challenge).
    routes = stage(cfn_template)["RouteSettings"]
    limits = {
        "ThrottlingRateLimit": {"Ref": "LoginThrottlingRateLimit"},
        "ThrottlingBurstLimit": {"Ref": "LoginThrottlingBurstLimit"},
    }
    assert routes == {
        route: limits
        for route in (
            "ANY /auth/login",
            # Each second-step request checks a code.
            "ANY /auth/login/mfa",
            "ANY /auth/password/forgot",
            "ANY /auth/password/reset",
            "ANY /auth/signup",
            "ANY /auth/webauthn/login/options",
            "ANY /auth/webauthn/login",
        )
    }
    login_event = sam_template["Resources"]["LoginFunction"]["Properties"]["Events"]["Login"]
    assert (login_event["Properties"]["Method"], login_event["Properties"]["Path"]) == (
        "ANY",
        "/auth/login",
    )
    parameters = sam_template["Parameters"]
    assert (
        parameters["LoginThrottlingRateLimit"]["Default"]
        < (parameters["ThrottlingRateLimit"]["Default"])
    )
    assert (
        parameters["LoginThrottlingBurstLimit"]["Default"]
        < (parameters["ThrottlingBurstLimit"]["Default"])
    )


def test_the_lockout_key_is_a_hidden_parameter_given_only_to_login(cfn_template, sam_template):
    parameter = sam_template["Parameters"]["LockoutKey"]
    assert parameter["NoEcho"] is True
    assert parameter["Default"] == ""
    for name, resource in cfn_template["Resources"].items():
        if resource["Type"] != "AWS::Lambda::Function":
            continue
        variables = resource["Properties"]["Environment"]["Variables"]
        if name == "LoginFunction":
            assert variables["LOCKOUT_KEY"] == {"Ref": "LockoutKey"}
        else:
            assert "LOCKOUT_KEY" not in variables, name


def test_the_device_cookie_key_is_a_hidden_parameter_given_only_to_login(
    cfn_template, sam_template
):
    parameter = sam_template["Parameters"]["DeviceCookieKey"]
    assert parameter["NoEcho"] is True
    assert parameter["Default"] == ""
    for name, resource in cfn_template["Resources"].items():
        if resource["Type"] != "AWS::Lambda::Function":
            continue
        variables = resource["Properties"]["Environment"]["Variables"]
        if name == "LoginFunction":
            given, generated = variables["DEVICE_COOKIE_KEY"]["Fn::If"][1:]
            assert given == {"Ref": "DeviceCookieKey"}
            assert generated == {
                "Fn::Sub": "{{resolve:secretsmanager:${DeviceCookieSecret}:SecretString}}"
            }
        else:
            assert "DEVICE_COOKIE_KEY" not in variables, name


def test_device_cookies_are_on_without_a_key_given(cfn_template):
    """Left empty, the parameter does not switch the protection off: the stack generates a
    key of its own, so no deployment keeps the lockout weapon by omission."""
    secret = cfn_template["Resources"]["DeviceCookieSecret"]
    assert secret["Type"] == "AWS::SecretsManager::Secret"
    assert secret["Condition"] == "GeneratesDeviceCookieKey"
    generate = secret["Properties"]["GenerateSecretString"]
    assert generate["PasswordLength"] >= 32
    assert cfn_template["Conditions"]["GeneratesDeviceCookieKey"] == {
        "Fn::Equals": [{"Ref": "DeviceCookieKey"}, ""]
    }


def test_unknown_username_counters_expire(cfn_template):
    users = cfn_template["Resources"]["UsersTable"]["Properties"]
    assert users["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}


def test_no_waf_association_targets_the_http_api(every_cfn_template):
    """AWS WAF cannot protect an HTTP API (only REST APIs, ALBs, CloudFront, ...): an
    association with it would fail at deploy time, so there must be none, in any template."""
    for name, template in every_cfn_template.items():
        for resource in template["Resources"].values():
            assert resource["Type"] != "AWS::WAFv2::WebACLAssociation", name


@pytest.mark.parametrize(
    ("value", "accepted"),
    [("0", True), ("10", True), ("2000", True), ("5", False), ("010", False), ("-1", False)],
)
def test_the_login_rate_limit_is_off_or_at_least_wafs_minimum(
    sam_template, nested_sam_templates, value, accepted
):
    parameter = sam_template["Parameters"]["LoginRateLimitPerIp"]
    assert parameter["Default"] == "0"
    assert bool(re.fullmatch(parameter["AllowedPattern"], value)) is accepted
    # The edge exists only when the limit is on: it takes every value the parent does but 0.
    nested = nested_sam_templates["Edge"]["Parameters"]["LoginRateLimitPerIp"]
    assert bool(re.fullmatch(nested["AllowedPattern"], value)) is (accepted and value != "0")


def test_the_edge_stack_exists_only_with_the_waf(cfn_template, edge_template):
    """The whole edge is one conditional nested stack: its resources exist exactly when it
    does, with no condition of their own."""
    assert cfn_template["Resources"]["Edge"]["Condition"] == "HasLoginWaf"
    assert cfn_template["Conditions"]["HasLoginWaf"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "LoginRateLimitPerIp"}, "0"]}]
    }
    assert set(edge_template["Resources"]) == {"LoginWebAcl", "EdgeDistribution"}
    assert all("Condition" not in resource for resource in edge_template["Resources"].values())


def test_the_opt_in_waf_rate_limits_login_per_client_ip(cfn_template, edge_template):
    edge = cfn_template["Resources"]["Edge"]
    acl = as_passed(edge_template["Resources"]["LoginWebAcl"], edge)
    assert acl["Type"] == "AWS::WAFv2::WebACL"
    assert edge["Condition"] == "HasLoginWaf"
    assert cfn_template["Conditions"]["HasLoginWaf"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "LoginRateLimitPerIp"}, "0"]}]
    }
    properties = acl["Properties"]
    # CloudFront web ACLs: the only kind that can sit in front of an HTTP API.
    assert properties["Scope"] == "CLOUDFRONT"
    assert properties["DefaultAction"] == {"Allow": {}}
    (rule,) = properties["Rules"]
    rate = rule["Statement"]["RateBasedStatement"]
    assert rate["Limit"] == {"Ref": "LoginRateLimitPerIp"}
    assert rate["AggregateKeyType"] == "IP"
    assert rate["EvaluationWindowSec"] == 300
    method, path = (
        statement["ByteMatchStatement"]
        for statement in rate["ScopeDownStatement"]["AndStatement"]["Statements"]
    )
    # Login attempts only: a CORS preflight is not a guess.
    assert method["FieldToMatch"] == {"Method": {}}
    assert (method["PositionalConstraint"], method["SearchString"]) == ("EXACTLY", "POST")
    assert path["FieldToMatch"] == {"UriPath": {}}
    assert (path["PositionalConstraint"], path["SearchString"]) == ("STARTS_WITH", "/auth/login")
    # Spelling variants of the path count against the same limit.
    transformations = sorted(path["TextTransformations"], key=lambda t: t["Priority"])
    assert [t["Type"] for t in transformations] == ["URL_DECODE", "NORMALIZE_PATH", "LOWERCASE"]


def test_the_waf_refuses_with_the_contracts_429(edge_template):
    properties = edge_template["Resources"]["LoginWebAcl"]["Properties"]
    (rule,) = properties["Rules"]
    response = rule["Action"]["Block"]["CustomResponse"]
    assert response["ResponseCode"] == 429
    headers = {h["Name"].lower(): h["Value"] for h in response["ResponseHeaders"]}
    assert int(headers["retry-after"]) == 300
    assert headers["cache-control"] == "no-store"
    body = properties["CustomResponseBodies"][response["CustomResponseBodyKey"]]
    assert body["ContentType"] == "APPLICATION_JSON"
    document = json.loads(body["Content"])
    assert set(document) == {"error", "error_description"}
    assert document["error"] == "too_many_requests"


def test_cloudfront_serves_the_custom_domain_with_the_web_acl_and_no_cache(
    cfn_template, edge_template
):
    edge = cfn_template["Resources"]["Edge"]
    distribution = as_passed(edge_template["Resources"]["EdgeDistribution"], edge)
    assert edge["Condition"] == "HasLoginWaf"
    config = distribution["Properties"]["DistributionConfig"]
    assert config["WebACLId"] == {"Fn::GetAtt": ["LoginWebAcl", "Arn"]}
    assert config["Aliases"] == [{"Ref": "CustomDomainName"}]
    assert config["ViewerCertificate"]["AcmCertificateArn"] == {"Ref": "CertificateArn"}
    assert config["ViewerCertificate"]["MinimumProtocolVersion"].startswith("TLSv1.2")
    origins = {origin["Id"]: origin for origin in config["Origins"]}
    for origin in origins.values():
        assert origin["DomainName"] == {"Fn::GetAtt": ["CustomDomain", "RegionalDomainName"]}
        assert origin["CustomOriginConfig"]["OriginProtocolPolicy"] == "https-only"
    behaviors = [config["DefaultCacheBehavior"], *config["CacheBehaviors"]]
    for behavior in behaviors:
        assert behavior["ViewerProtocolPolicy"] == "https-only"
        assert "POST" in behavior["AllowedMethods"]
        # Managed-CachingDisabled: answers carry tokens and Set-Cookie.
        assert behavior["CachePolicyId"] == "4135ea2d-6df8-44a3-9df4-4b5a84be39ad"
        # Managed-AllViewer: the Host selects the custom domain's mapping.
        assert behavior["OriginRequestPolicyId"] == "216adef6-5c7f-47e4-b989-5492eafa07d3"
    # The secret rides only on requests to login: no other function sees it.
    (login,) = config["CacheBehaviors"]
    assert login["PathPattern"] == "/auth/login"
    assert origins[login["TargetOriginId"]]["OriginCustomHeaders"] == [
        {"HeaderName": "X-Origin-Verify", "HeaderValue": {"Ref": "EdgeOriginSecret"}}
    ]
    assert "OriginCustomHeaders" not in origins[config["DefaultCacheBehavior"]["TargetOriginId"]]
    target = cfn_template["Outputs"]["CustomDomainTarget"]["Value"]
    condition, through_the_edge = target["Fn::If"][:2]
    assert condition == "HasLoginWaf"
    assert nested_output(through_the_edge, cfn_template, {"Edge": edge_template}) == (
        "Edge",
        {"Fn::GetAtt": ["EdgeDistribution", "DomainName"]},
    )


def test_login_alone_checks_the_edge_secret_and_only_with_the_waf(cfn_template, sam_template):
    parameter = sam_template["Parameters"]["EdgeOriginSecret"]
    assert parameter["NoEcho"] is True
    assert not re.fullmatch(parameter["AllowedPattern"], "short")
    for name, resource in cfn_template["Resources"].items():
        if resource["Type"] != "AWS::Lambda::Function":
            continue
        variables = resource["Properties"]["Environment"]["Variables"]
        if name == "LoginFunction":
            assert variables["EDGE_ORIGIN_SECRET"] == {
                "Fn::If": ["HasLoginWaf", {"Ref": "EdgeOriginSecret"}, ""]
            }
        else:
            assert "EDGE_ORIGIN_SECRET" not in variables, name


def test_the_waf_needs_the_edge_secret_us_east_1_and_a_custom_domain(cfn_template):
    """Refused up front: without the secret, login could not tell CloudFront from a direct call
    that skipped the WAF; outside us-east-1 a CLOUDFRONT web ACL cannot exist; without a custom
    domain, the issuer and the discovery document would name the unprotected hostname."""
    rule = cfn_template["Rules"]["LoginWafPrerequisites"]
    assert rule["RuleCondition"] == cfn_template["Conditions"]["HasLoginWaf"]
    assert [assertion["Assert"] for assertion in rule["Assertions"]] == [
        {"Fn::Not": [{"Fn::Equals": [{"Ref": "EdgeOriginSecret"}, ""]}]},
        {"Fn::Equals": [{"Ref": "AWS::Region"}, "us-east-1"]},
        {"Fn::Not": [{"Fn::Equals": [{"Ref": "CustomDomainName"}, ""]}]},
    ]

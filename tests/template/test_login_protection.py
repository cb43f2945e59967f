"""Template facts of the login hardening: throttling, the lockout key, expiring counters."""

import pytest

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
    routes = stage(cfn_template)["RouteSettings"]
    assert routes == {
        "ANY /auth/login": {
            "ThrottlingRateLimit": {"Ref": "LoginThrottlingRateLimit"},
            "ThrottlingBurstLimit": {"Ref": "LoginThrottlingBurstLimit"},
        }
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


def test_unknown_username_counters_expire(cfn_template):
    users = cfn_template["Resources"]["UsersTable"]["Properties"]
    assert users["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}


def test_no_waf_association_targets_the_http_api(cfn_template):
    """AWS WAF cannot protect an HTTP API (only REST APIs, ALBs, CloudFront, ...): an
    association with it would fail at deploy time, so there must be none."""
    for resource in cfn_template["Resources"].values():
        if resource["Type"] == "AWS::WAFv2::WebACLAssociation":
            assert "HttpApi" not in str(resource["Properties"]["ResourceArn"])

"""Checks of template.yaml and its nested applications' templates (infra/edge, infra/alarms):
each validates, each one's CloudFormation lints, and the stack grants least privilege.

The tables below are the security design written out as expectations. A change to a role, a
route's authorization or a table setting has to show up here as a deliberate edit, so an auditor
can read what the stack grants without reading SAM's expansion rules.
"""

import copy
import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import lint_file
from cfnlint.config import ManualArgs

from infra.toolchain import MISSING, find_runtime_python
from tests.template.conftest import TEMPLATES, as_passed

pytestmark = pytest.mark.template

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
REGION = "us-east-1"

# Inline IAM grants of each function's role: resource -> actions, nothing more. A resource is named
# by the logical id whose Arn it is, plus a suffix such as /index/by_user for an index ARN.
# KMS keys are created by the rotation function at run time, so no ARN exists at deploy time: the
# signing functions reach them through the tag the rotation function puts on every key (ABAC).
KMS_KEYS = "arn:${AWS::Partition}:kms:${AWS::Region}:${AWS::AccountId}:key/*"
STACK_TAG_CONDITION = {"StringEquals": {"aws:ResourceTag/auth-stack": {"Ref": "AWS::StackName"}}}
# What the template's conditions are with each signing backend (the other parameters default).
BACKENDS = {
    "kms": {"UsesKms": True, "UsesSecretsManager": False, "IsProd": False, "HasMailIdentity": True},
    "secretsmanager": {
        "UsesKms": False,
        "UsesSecretsManager": True,
        "IsProd": False,
        "HasMailIdentity": True,
    },
}
# The one SES identity the mail function may send through (MailIdentity), from MailSender only.
SES_IDENTITY = "arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:identity/${MailIdentity}"

# Every function writes to its own log group, and only to it (see test_logs_are_fenced_...).
LOG_WRITES = {"logs:CreateLogStream", "logs:PutLogEvents"}

EXPECTED_GRANTS: dict[str, dict[str, set[str]]] = {
    # Verifies tokens against the public keys, read from the keys table directly (never the
    # public, throttled JWKS route): one Query, no other table, no KMS.
    "AuthorizerFunction": {
        "AuthorizerFunctionLogGroup": LOG_WRITES,
        "KeysTable": {"dynamodb:Query"},
        # The revocation feed's two objects, and the listing that turns a missing one
        # into a 404 (narrowed to the feed's prefix by a condition, checked below).
        "RevocationFeedBucket/revocations/*": {"s3:GetObject"},
        "RevocationFeedBucket": {"s3:ListBucket"},
    },
    # Publishes the feed: the sessions table's stream in, the feed's objects out.
    "RevocationFeedFunction": {
        "RevocationFeedFunctionLogGroup": LOG_WRITES,
        "SessionsTable/stream": {
            "dynamodb:DescribeStream",
            "dynamodb:GetRecords",
            "dynamodb:GetShardIterator",
        },
        "*": {"dynamodb:ListStreams"},
        "RevocationFeedBucket/revocations/*": {"s3:GetObject", "s3:PutObject"},
        "RevocationFeedBucket": {"s3:ListBucket"},
    },
    # The same code in session mode: also one GetItem by key on the sessions table.
    "SessionAuthorizerFunction": {
        "SessionsTable": {"dynamodb:GetItem"},
        "KeysTable": {"dynamodb:Query"},
        "SessionAuthorizerFunctionLogGroup": LOG_WRITES,
    },
    "LoginFunction": {
        "LoginFunctionLogGroup": LOG_WRITES,
        # ConditionCheckItem: the session is written only if the account is still enabled and
        # its password unchanged, in one transaction (no race with a disable or a reset).
        # PutItem and DeleteItem: a login's pending second step (contract section 8), spent
        # in the transaction that writes the session.
        "UsersTable": {
            "dynamodb:GetItem",
            "dynamodb:UpdateItem",
            "dynamodb:ConditionCheckItem",
            "dynamodb:PutItem",
            "dynamodb:DeleteItem",
        },
        "SessionsTable": {"dynamodb:PutItem"},
        "KeysTable": {"dynamodb:Query"},
        KMS_KEYS: {"kms:Sign"},
        # The second step opens the account's sealed TOTP secret.
        "MfaSecretsKey": {"kms:Decrypt"},
    },
    "RefreshFunction": {
        "RefreshFunctionLogGroup": LOG_WRITES,
        "SessionsTable": {"dynamodb:UpdateItem"},
        "KeysTable": {"dynamodb:Query"},
        KMS_KEYS: {"kms:Sign"},
    },
    "LogoutFunction": {
        "LogoutFunctionLogGroup": LOG_WRITES,
        "SessionsTable": {"dynamodb:GetItem", "dynamodb:UpdateItem"},
        "SessionsTable/index/by_user": {"dynamodb:Query"},
        "KeysTable": {"dynamodb:Query"},
    },
    "SessionsFunction": {
        "SessionsFunctionLogGroup": LOG_WRITES,
        "SessionsTable": {"dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:UpdateItem"},
        "SessionsTable/index/by_user": {"dynamodb:Query"},
    },
    "WellKnownFunction": {
        "WellKnownFunctionLogGroup": LOG_WRITES,
        "KeysTable": {"dynamodb:Query"},
    },
    "KeyRotationFunction": {
        "KeyRotationFunctionLogGroup": LOG_WRITES,
        "KeysTable": {"dynamodb:Query", "dynamodb:PutItem", "dynamodb:UpdateItem"},
        "*": {"kms:CreateKey", "kms:TagResource"},
        KMS_KEYS: {"kms:GetPublicKey", "kms:DisableKey", "kms:ScheduleKeyDeletion"},
    },
    "MeFunction": {"MeFunctionLogGroup": LOG_WRITES},
    # The scoped example route: its scope is the authorizers' business, it needs nothing.
    "ReportsFunction": {"ReportsFunctionLogGroup": LOG_WRITES},
    # Accounts: the account item, its failure counter and its mail tokens (DeleteItem: a
    # spent token's item goes in the transaction that spends it); ending sessions; handing
    # mail jobs to the mail function, never sending mail itself.
    # Enrolment seals a new TOTP secret and opens it to check the first code.
    "MfaFunction": {
        "MfaFunctionLogGroup": LOG_WRITES,
        "UsersTable": {"dynamodb:GetItem", "dynamodb:UpdateItem"},
        "MfaSecretsKey": {"kms:Encrypt", "kms:Decrypt"},
    },
    "PasswordFunction": {
        "PasswordFunctionLogGroup": LOG_WRITES,
        "UsersTable": {"dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"},
        "SessionsTable": {"dynamodb:UpdateItem"},
        "SessionsTable/index/by_user": {"dynamodb:Query"},
        # Its alias `live`, where the asynchronous invocation settings (EventInvokeConfig) are.
        "AccountMailFunctionAliaslive": {"lambda:InvokeFunction"},
    },
    "SignupFunction": {
        "SignupFunctionLogGroup": LOG_WRITES,
        "UsersTable": {
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            "dynamodb:DeleteItem",
        },
        "AccountMailFunctionAliaslive": {"lambda:InvokeFunction"},
    },
    # Passkeys: the account, passkey and challenge items (the challenge deleted, the
    # counter updated and the account checked in the transaction that writes the session);
    # the session; signing like login.
    "PasskeyFunction": {
        "PasskeyFunctionLogGroup": LOG_WRITES,
        "UsersTable": {
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            "dynamodb:DeleteItem",
            "dynamodb:ConditionCheckItem",
        },
        "SessionsTable": {"dynamodb:PutItem"},
        "KeysTable": {"dynamodb:Query"},
        KMS_KEYS: {"kms:Sign"},
    },
    # Machine clients: the client, its hourly counter and assertion jtis; a user token's
    # session (introspection reads it, revocation ends it); signing like login.
    "OAuthFunction": {
        "OAuthFunctionLogGroup": LOG_WRITES,
        "ClientsTable": {"dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:PutItem"},
        "SessionsTable": {"dynamodb:GetItem", "dynamodb:UpdateItem"},
        "KeysTable": {"dynamodb:Query"},
        KMS_KEYS: {"kms:Sign"},
    },
    # The only function that sends mail, through one identity.
    "AccountMailFunction": {
        "AccountMailFunctionLogGroup": LOG_WRITES,
        "UsersTable": {
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            "dynamodb:DeleteItem",
        },
        "SessionsTable": {"dynamodb:UpdateItem"},
        "SessionsTable/index/by_user": {"dynamodb:Query"},
        SES_IDENTITY: {"ses:SendEmail"},
    },
}
# With the secretsmanager backend, KMS grants give way to the one secret.
SECRETS_BACKEND_GRANTS = {
    "LoginFunction": {KMS_KEYS: None, "SigningKeysSecret": {"secretsmanager:GetSecretValue"}},
    "OAuthFunction": {KMS_KEYS: None, "SigningKeysSecret": {"secretsmanager:GetSecretValue"}},
    "PasskeyFunction": {KMS_KEYS: None, "SigningKeysSecret": {"secretsmanager:GetSecretValue"}},
    "RefreshFunction": {KMS_KEYS: None, "SigningKeysSecret": {"secretsmanager:GetSecretValue"}},
    "KeyRotationFunction": {
        "*": None,
        KMS_KEYS: None,
        "SigningKeysSecret": {"secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue"},
    },
}


def expected_grants(function: str, backend: str) -> dict[str, set[str]]:
    grants = dict(EXPECTED_GRANTS[function])
    if backend == "secretsmanager":
        for resource, actions in SECRETS_BACKEND_GRANTS.get(function, {}).items():
            if actions is None:
                grants.pop(resource, None)
            else:
                grants[resource] = actions
    return grants


# The only grants on Resource "*" a function role may carry, and every role carries exactly these:
# CloudWatch Logs writes (SAM's default execution policy, which SAM attaches to every role it
# generates with no way to opt out; each role's own Deny narrows it to the function's own log
# group) and, only when the Tracing parameter turns X-Ray on, X-Ray segment writes (X-Ray has no
# resource-level permissions).
BASIC_EXECUTION = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
XRAY_WRITES = "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess"
TRACING_VALUES = ("Disabled", "Active", "PassThrough")
EXPECTED_MANAGED_POLICIES = {
    "Disabled": {BASIC_EXECUTION},
    "Active": {BASIC_EXECUTION, XRAY_WRITES},
    "PassThrough": {BASIC_EXECUTION, XRAY_WRITES},
}

EXPECTED_ROUTES = {
    ("ANY", "/auth/login"): "LoginFunction",
    ("ANY", "/auth/login/mfa"): "LoginFunction",
    ("ANY", "/auth/mfa/totp"): "MfaFunction",
    ("ANY", "/auth/mfa/totp/confirm"): "MfaFunction",
    ("ANY", "/auth/mfa/recovery-codes"): "MfaFunction",
    ("ANY", "/auth/refresh"): "RefreshFunction",
    ("ANY", "/auth/logout"): "LogoutFunction",
    ("GET", "/auth/sessions"): "SessionsFunction",
    ("DELETE", "/auth/sessions/{sid}"): "SessionsFunction",
    ("GET", "/.well-known/jwks.json"): "WellKnownFunction",
    ("GET", "/.well-known/openid-configuration"): "WellKnownFunction",
    ("GET", "/api/me"): "MeFunction",
    ("GET", "/api/reports"): "ReportsFunction",
    ("POST", "/auth/password"): "PasswordFunction",
    ("ANY", "/auth/password/forgot"): "PasswordFunction",
    ("ANY", "/auth/password/reset"): "PasswordFunction",
    ("ANY", "/auth/signup"): "SignupFunction",
    ("ANY", "/auth/email/verify"): "SignupFunction",
    ("ANY", "/oauth2/token"): "OAuthFunction",
    ("ANY", "/oauth2/introspect"): "OAuthFunction",
    ("ANY", "/oauth2/revoke"): "OAuthFunction",
    ("POST", "/auth/webauthn/register/options"): "PasskeyFunction",
    ("POST", "/auth/webauthn/register"): "PasskeyFunction",
    ("ANY", "/auth/webauthn/login/options"): "PasskeyFunction",
    ("ANY", "/auth/webauthn/login"): "PasskeyFunction",
}

# The HttpApi's Lambda authorizers, by scheme name: the default (stateless) one, the
# session-checked one that routes opt into, and the Bearer-only one whose answer may be cached.
DEFAULT_SCHEME = "TokenAuthorizer"
SESSION_SCHEME = "SessionAuthorizer"
BEARER_SCHEME = "BearerAuthorizer"
AUTHORIZER_FUNCTIONS = {
    DEFAULT_SCHEME: "AuthorizerFunction",
    SESSION_SCHEME: "SessionAuthorizerFunction",
    BEARER_SCHEME: "AuthorizerFunction",
}
# The ones that accept cookie-borne tokens as well: no identity source, never cached.
COOKIE_SCHEMES = (DEFAULT_SCHEME, SESSION_SCHEME)
# API Gateway's own JWT authorizer, offered for routes that opt in; no route of ours uses it.
NATIVE_JWT_SCHEME = "NativeJwtAuthorizer"
# The project's own session management: a logged-out token must not list or end sessions.
# The password change too: contract section 7 asks a live session of it.
SESSION_CHECKED_ROUTES = {
    ("GET", "/auth/sessions"),
    ("DELETE", "/auth/sessions/{sid}"),
    ("POST", "/auth/password"),
    # Contract section 8: the second factor of the caller's own account.
    ("ANY", "/auth/mfa/totp"),
    ("ANY", "/auth/mfa/totp/confirm"),
    ("ANY", "/auth/mfa/recovery-codes"),
    # Contract section 8: registering a passkey, like changing the password.
    ("POST", "/auth/webauthn/register/options"),
    ("POST", "/auth/webauthn/register"),
}

# Contract sections 1 and 7: these answer without the authorizer; every other route goes
# through it.
PUBLIC_PATHS = {
    "/auth/login",
    "/auth/login/mfa",
    "/auth/refresh",
    "/auth/logout",
    "/auth/password/forgot",
    "/auth/password/reset",
    "/auth/signup",
    "/auth/email/verify",
    # Contract section 9: the OAuth endpoints authenticate the client themselves.
    "/oauth2/token",
    "/oauth2/introspect",
    "/oauth2/revoke",
    # Contract section 8: signing in with a passkey.
    "/auth/webauthn/login/options",
    "/auth/webauthn/login",
}
PUBLIC_PREFIX = "/.well-known/"

EXPECTED_OUTPUTS = {
    "ApiUrl",
    "KeysTableName",
    "UsersTableName",
    "SessionsTableName",
    "AuthorizerFunctionArn",
    "SessionAuthorizerFunctionArn",
}

HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}
ANY_METHOD = "x-amazon-apigateway-any-method"

ELF_MACHINE_AARCH64 = 183


# ---------------------------------------------------------------- helpers


def resources(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {
        name: resource
        for name, resource in template["Resources"].items()
        if resource["Type"] == resource_type
    }


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def arn_target(value: Any) -> str | None:
    """The logical id X of `!GetAtt X.Arn` ("X/stream" for `!GetAtt X.StreamArn`), else None."""
    if isinstance(value, dict) and list(value) == ["Fn::GetAtt"]:
        target, attribute = value["Fn::GetAtt"]
        if attribute == "Arn":
            return str(target)
        if attribute == "StreamArn":
            return f"{target}/stream"
    return None


ALIAS = "Aliaslive"  # SAM's logical id of a function's alias `live`: <Function>Aliaslive


def function_name_target(value: Any) -> str | None:
    """The logical id of a Lambda::Permission's FunctionName (`!Ref F`, `!Ref F.Alias` as
    translated, `!GetAtt F.Arn`)."""
    if isinstance(value, dict) and list(value) == ["Ref"]:
        return str(value["Ref"]).removesuffix(ALIAS)
    return arn_target(value)


def resource_label(value: Any) -> str:
    """`!GetAtt T.Arn` -> "T", `!Sub ${T.Arn}/index/i` -> "T/index/i"; anything else verbatim."""
    target = arn_target(value)
    if target is not None:
        return target
    if isinstance(value, dict) and list(value) == ["Ref"]:
        return str(value["Ref"])
    if isinstance(value, dict) and list(value) == ["Fn::Sub"] and isinstance(value["Fn::Sub"], str):
        match = re.fullmatch(r"\$\{(\w+)\.Arn\}(/.*)?", value["Fn::Sub"])
        if match:
            return match[1] + (match[2] or "")
        return value["Fn::Sub"]
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True)


def referenced_functions(value: Any) -> set[str]:
    """Logical ids whose Arn a (possibly nested) intrinsic refers to."""
    text = json.dumps(value)
    return {
        (first or second or third or fourth).removesuffix(ALIAS)
        for first, second, third, fourth in re.findall(
            r'\$\{(\w+)\.Arn\}|"Fn::GetAtt": \["(\w+)", "Arn"\]'
            r'|\$\{(\w+Aliaslive)\}|"Ref": "(\w+Aliaslive)"',
            text,
        )
    }


def referenced_aliases(value: Any) -> set[str]:
    """Functions whose alias `live` a (possibly nested) intrinsic refers to."""
    text = json.dumps(value)
    return {
        (first or second).removesuffix(ALIAS)
        for first, second in re.findall(r'\$\{(\w+Aliaslive)\}|"Ref": "(\w+Aliaslive)"', text)
    }


def role_of(template: dict[str, Any], function: str) -> str:
    role = arn_target(template["Resources"][function]["Properties"]["Role"])
    assert role is not None, f"{function}'s Role is not the Arn of a role in this template"
    return role


def resolve_if(value: Any, conditions: dict[str, bool]) -> Any:
    """Fn::If and AWS::NoValue as CloudFormation resolves them under the given conditions."""
    if isinstance(value, dict):
        if list(value) == ["Fn::If"]:
            name, when_true, when_false = value["Fn::If"]
            return resolve_if(when_true if conditions[name] else when_false, conditions)
        return {k: resolve_if(v, conditions) for k, v in value.items()}
    if isinstance(value, list):
        resolved = [resolve_if(v, conditions) for v in value]
        return [v for v in resolved if v != {"Ref": "AWS::NoValue"}]
    return value


def role_statements(
    template: dict[str, Any], role: str, backend: str = "kms"
) -> list[dict[str, Any]]:
    """Every inline statement attached to a role, from the role itself or a separate policy,
    with the template's conditions resolved for one signing backend."""
    documents = [
        policy["PolicyDocument"]
        for policy in template["Resources"][role]["Properties"].get("Policies", [])
    ]
    for policy_type in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
        for policy in resources(template, policy_type).values():
            if {"Ref": role} in policy["Properties"].get("Roles", []):
                documents.append(policy["Properties"]["PolicyDocument"])
    documents = resolve_if(documents, BACKENDS[backend])
    return [statement for document in documents for statement in as_list(document["Statement"])]


def grants_of(template: dict[str, Any], function: str, backend: str = "kms") -> dict[str, set[str]]:
    grants: dict[str, set[str]] = {}
    for statement in role_statements(template, role_of(template, function), backend):
        if statement["Effect"] != "Allow":
            continue
        for resource in as_list(statement["Resource"]):
            grants.setdefault(resource_label(resource), set()).update(as_list(statement["Action"]))
    return grants


def http_api_body(template: dict[str, Any]) -> dict[str, Any]:
    apis = resources(template, "AWS::ApiGatewayV2::Api")
    assert list(apis) == ["HttpApi"]
    return apis["HttpApi"]["Properties"]["Body"]


def operations(body: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        ("ANY" if method == ANY_METHOD else method.upper(), path): operation
        for path, item in body["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS or method == ANY_METHOD
    }


def lambda_authorizer_scheme(body: dict[str, Any], name: str = DEFAULT_SCHEME) -> str:
    schemes = body["components"]["securitySchemes"]
    expected = set(AUTHORIZER_FUNCTIONS) | {NATIVE_JWT_SCHEME}
    assert set(schemes) == expected, f"unexpected schemes {sorted(schemes)}"
    return name


def is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIX)


# ---------------------------------------------------------------- validation and lint


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_sam_validate_lint_passes(sam_cli, sam_env, name):
    result = subprocess.run(
        [sam_cli, "validate", "--lint", "--template", str(TEMPLATES[name]), "--region", REGION],
        cwd=ROOT,
        env=sam_env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "is a valid SAM Template" in output


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_translated_template_passes_cfn_lint(every_cfn_template, name, tmp_path):
    """The SAM-level lint misses what only exists after the transform (runtimes, references)."""
    cfn_template = every_cfn_template[name]
    leftovers = sorted(
        name
        for name, resource in cfn_template["Resources"].items()
        if resource["Type"].startswith("AWS::Serverless::")
    )
    assert leftovers == []
    translated = tmp_path / "translated.json"
    translated.write_text(json.dumps(cfn_template, indent=1), encoding="utf-8")
    matches = lint_file(translated, config=ManualArgs(regions=[REGION]))
    problems = [
        f"{match.rule.id} line {match.linenumber}: {match.message}"
        for match in matches
        if match.rule.id[:1] in ("E", "W")
    ]
    assert problems == []


def test_nested_applications_get_every_parameter_from_the_parent(
    cfn_template, nested_sam_templates
):
    """Nothing reaches a nested stack implicitly: the parent passes each of its parameters,
    by name, and no other; the nested templates hold no function, role or policy, so the
    least-privilege checks below, which read the parent, see every grant of the stack."""
    assert set(nested_sam_templates) == {"Edge", "Alarms"}
    for name, nested in nested_sam_templates.items():
        stack = cfn_template["Resources"][name]
        assert stack["Type"] == "AWS::CloudFormation::Stack", name
        assert set(stack["Properties"]["Parameters"]) == set(nested["Parameters"]), name
        kinds = {resource["Type"] for resource in nested["Resources"].values()}
        assert not {kind for kind in kinds if kind.startswith(("AWS::Lambda::", "AWS::IAM::"))}
        assert not {kind for kind in kinds if kind.startswith("AWS::Serverless::")}


def test_the_edge_is_opt_in_and_the_alarms_always_exist(cfn_template):
    assert cfn_template["Resources"]["Edge"]["Condition"] == "HasLoginWaf"
    assert "Condition" not in cfn_template["Resources"]["Alarms"]


# ---------------------------------------------------------------- least privilege


def test_every_function_has_a_role_of_its_own(cfn_template):
    functions = resources(cfn_template, "AWS::Lambda::Function")
    assert set(functions) == set(EXPECTED_GRANTS)
    roles = {function: role_of(cfn_template, function) for function in functions}
    for function, role in roles.items():
        assert cfn_template["Resources"][role]["Type"] == "AWS::IAM::Role", function
    assert len(set(roles.values())) == len(roles), f"a role is shared: {roles}"
    for role in roles.values():
        trust = as_list(
            cfn_template["Resources"][role]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        )
        assert trust == [
            {
                "Action": ["sts:AssumeRole"],
                "Effect": "Allow",
                "Principal": {"Service": ["lambda.amazonaws.com"]},
            }
        ], role


@pytest.fixture(scope="module")
def cfn_template_traced(sam_template, translate_sam):
    """The template translated with each value of the Tracing parameter."""
    return {value: translate_sam(sam_template, {"Tracing": value}) for value in TRACING_VALUES}


@pytest.mark.parametrize("tracing", TRACING_VALUES)
@pytest.mark.parametrize("function", sorted(EXPECTED_GRANTS))
def test_role_carries_only_the_expected_managed_policies(cfn_template_traced, function, tracing):
    cfn_template = cfn_template_traced[tracing]
    role = cfn_template["Resources"][role_of(cfn_template, function)]["Properties"]
    assert set(role.get("ManagedPolicyArns", [])) == EXPECTED_MANAGED_POLICIES[tracing]


def test_tracing_is_opt_in(sam_template, cfn_template):
    """Off by default: no function pays the X-Ray SDK's import nor holds X-Ray permissions."""
    assert sam_template["Parameters"]["Tracing"]["Default"] == "Disabled"
    assert set(sam_template["Parameters"]["Tracing"]["AllowedValues"]) == set(TRACING_VALUES)
    for function in EXPECTED_GRANTS:
        properties = cfn_template["Resources"][function]["Properties"]
        assert "TracingConfig" not in properties, function
        role = cfn_template["Resources"][role_of(cfn_template, function)]["Properties"]
        assert XRAY_WRITES not in role.get("ManagedPolicyArns", []), function


@pytest.mark.parametrize("tracing", ["Active", "PassThrough"])
def test_tracing_on_reaches_lambda_and_the_code(cfn_template_traced, tracing):
    cfn_template = cfn_template_traced[tracing]
    conditions = cfn_template["Conditions"]
    for function in EXPECTED_GRANTS:
        properties = cfn_template["Resources"][function]["Properties"]
        assert properties["TracingConfig"] == {"Mode": {"Ref": "Tracing"}}, function
        # What authcore.edge.observability reads to build the tracer: "false" exactly when
        # Lambda traces, so the code and the function's configuration never disagree.
        flag = properties["Environment"]["Variables"]["POWERTOOLS_TRACE_DISABLED"]
        condition, when_on, when_off = flag["Fn::If"]
        assert (when_on, when_off) == ("false", "true"), function
        assert conditions[condition] == {
            "Fn::Not": [{"Fn::Equals": [{"Ref": "Tracing"}, "Disabled"]}]
        }


@pytest.mark.parametrize("backend", sorted(BACKENDS))
@pytest.mark.parametrize("function", sorted(EXPECTED_GRANTS))
def test_role_grants_exactly_the_expected_actions_on_exact_resources(
    cfn_template, function, backend
):
    assert grants_of(cfn_template, function, backend) == expected_grants(function, backend)


def _tag_conditioned(statement: dict[str, Any]) -> bool:
    """A wildcard resource narrowed to this stack's tagged KMS keys (see KMS_KEYS)."""
    condition = statement.get("Condition", {})
    equals = condition.get("StringEquals", {})
    return equals.get("aws:ResourceTag/auth-stack") == {"Ref": "AWS::StackName"} or (
        equals.get("aws:RequestTag/auth-stack") == {"Ref": "AWS::StackName"}
        and equals.get("kms:KeyUsage") == "SIGN_VERIFY"
        and condition.get("ForAllValues:StringEquals") == {"aws:TagKeys": ["auth-stack"]}
    )


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_no_inline_statement_uses_wildcards(cfn_template, backend):
    """Resource "*" is left to the managed policies above, except for KMS keys that exist only at
    run time, which are reachable only through this stack's tag, and dynamodb:ListStreams, which
    has no resource-level permission (it names stream ARNs, nothing more). A key prefix of this
    stack's feed bucket is not a wildcard of the account; actions are always spelled out.
    (Deny statements only take away; the one each role has is checked on its own below.)"""
    problems = []
    for role in resources(cfn_template, "AWS::IAM::Role"):
        for statement in role_statements(cfn_template, role, backend):
            if statement["Effect"] == "Deny":
                continue
            for key in ("NotAction", "NotResource", "NotPrincipal"):
                if key in statement:
                    problems.append(f"{role}: {key} grants everything it does not name")
            for action in as_list(statement.get("Action", [])):
                if "*" in action:
                    problems.append(f"{role}: wildcard action {action}")
            if as_list(statement["Action"]) == ["dynamodb:ListStreams"]:
                continue
            for resource in as_list(statement.get("Resource", [])):
                if resource_label(resource) == "RevocationFeedBucket/revocations/*":
                    continue
                if "*" in json.dumps(resource) and not _tag_conditioned(statement):
                    problems.append(f"{role}: wildcard resource {resource_label(resource)}")
    assert problems == []


@pytest.mark.parametrize("function", sorted(EXPECTED_GRANTS))
def test_logs_are_fenced_to_the_functions_own_log_group(cfn_template, function):
    """AWSLambdaBasicExecutionRole allows logs writes everywhere; the one Deny of each role takes
    back every log group but the function's own, and the creation of any group."""
    role = role_of(cfn_template, function)
    denials = [
        statement
        for statement in role_statements(cfn_template, role)
        if statement["Effect"] == "Deny"
        and any(action.startswith("logs:") for action in as_list(statement["Action"]))
    ]
    assert denials == [
        {
            "Effect": "Deny",
            "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            "NotResource": {"Fn::GetAtt": [f"{function}LogGroup", "Arn"]},
        }
    ]


@pytest.mark.parametrize("function", ["AuthorizerFunction", "SessionAuthorizerFunction"])
def test_authorizers_read_keys_from_the_table_and_have_no_kms_access(cfn_template, function):
    role = role_of(cfn_template, function)
    actions = {
        action
        for statement in role_statements(cfn_template, role)
        for action in as_list(statement["Action"])
    }
    assert not any(action.startswith("kms:") for action in actions)
    assert grants_of(cfn_template, function)["KeysTable"] == {"dynamodb:Query"}
    variables = cfn_template["Resources"][function]["Properties"]["Environment"]["Variables"]
    assert variables["KEYS_TABLE"] == {"Ref": "KeysTable"}
    assert "JWKS_URL" not in variables  # a JWKS URL would win over the private source
    managed = set(cfn_template["Resources"][role]["Properties"]["ManagedPolicyArns"])
    assert managed <= EXPECTED_MANAGED_POLICIES["Active"]
    assert not any("DynamoDB" in arn or "KMS" in arn for arn in managed)


def test_granted_resources_exist_with_the_granted_indexes(cfn_template):
    """An IAM grant on a misspelt index ARN would deploy fine and fail at the first query."""
    kinds = {
        "AWS::DynamoDB::Table",
        "AWS::SecretsManager::Secret",
        "AWS::KMS::Key",
        "AWS::Logs::LogGroup",
        "AWS::Lambda::Function",
        "AWS::S3::Bucket",
        "AWS::Lambda::Alias",
    }
    for function in resources(cfn_template, "AWS::Lambda::Function"):
        labels = set(grants_of(cfn_template, function))
        labels |= set(grants_of(cfn_template, function, "secretsmanager"))
        for label in labels - {KMS_KEYS, "*", SES_IDENTITY}:
            name, _, suffix = label.partition("/")
            resource = cfn_template["Resources"][name]
            assert resource["Type"] in kinds, (function, label)
            if resource["Type"] == "AWS::S3::Bucket":
                assert suffix in ("", "revocations/*"), (function, label)
                continue
            if suffix == "stream":
                assert resource["Properties"]["StreamSpecification"], (function, label)
                continue
            if suffix:
                kind, _, index = suffix.partition("/")
                assert kind == "index", (function, label)
                indexes = {
                    gsi["IndexName"]
                    for gsi in resource["Properties"].get("GlobalSecondaryIndexes", [])
                }
                assert index in indexes, (function, label)


# ---------------------------------------------------------------- API and authorizer


def test_session_authorizer_is_the_same_code_in_session_mode(sam_template):
    functions = sam_template["Resources"]
    stateless = functions["AuthorizerFunction"]["Properties"]
    session = functions["SessionAuthorizerFunction"]["Properties"]
    assert (session["CodeUri"], session["Handler"]) == (stateless["CodeUri"], stateless["Handler"])
    variables = session["Environment"]["Variables"]
    assert variables["AUTHORIZER_MODE"] == "session"
    assert variables["SESSIONS_TABLE"] == {"Ref": "SessionsTable"}
    assert variables["REVOCATION_MAX_LAG_SECONDS"] == {"Ref": "RevocationMaxLagSeconds"}
    assert sam_template["Parameters"]["RevocationMaxLagSeconds"]["Default"] == 5
    # The stateless one stays stateless: no mode switch, no table.
    assert "AUTHORIZER_MODE" not in stateless["Environment"]["Variables"]
    assert "SESSIONS_TABLE" not in stateless["Environment"]["Variables"]


@pytest.mark.parametrize("function", sorted(set(AUTHORIZER_FUNCTIONS.values())))
def test_authorizer_may_be_invoked_by_the_api(cfn_template, function):
    permissions = [
        permission["Properties"]
        for permission in resources(cfn_template, "AWS::Lambda::Permission").values()
        if function_name_target(permission["Properties"]["FunctionName"]) == function
    ]
    assert len(permissions) == 1
    permission = permissions[0]
    assert permission["Action"] == "lambda:InvokeFunction"
    assert permission["Principal"] == "apigateway.amazonaws.com"
    source = json.dumps(permission["SourceArn"])
    assert ":execute-api:" in source
    assert "/authorizers/" in source
    assert '{"Ref": "HttpApi"}' in source


def lambda_authorizer(cfn_template: dict[str, Any], name: str) -> dict[str, Any]:
    body = http_api_body(cfn_template)
    scheme = body["components"]["securitySchemes"][lambda_authorizer_scheme(body, name)]
    authorizer: dict[str, Any] = scheme["x-amazon-apigateway-authorizer"]
    assert authorizer["type"] == "request"
    assert referenced_functions(authorizer["authorizerUri"]) == {AUTHORIZER_FUNCTIONS[name]}
    assert authorizer["authorizerPayloadFormatVersion"] == "2.0"
    assert authorizer["enableSimpleResponses"] is True
    return authorizer


@pytest.mark.parametrize("name", COOKIE_SCHEMES)
def test_cookie_capable_authorizers_have_no_identity_source_and_no_cache(cfn_template, name):
    authorizer = lambda_authorizer(cfn_template, name)
    # A request missing a configured identity source gets 401 without the authorizer being
    # called, so naming only the Authorization header would lock out cookie-borne tokens.
    assert authorizer.get("identitySource", []) == []
    # Unset means 300 s of caching, and caching without identity sources has no safe cache key
    # (and for the session-checked one, a cache TTL would add to the revocation lag).
    assert authorizer["authorizerResultTtlInSeconds"] == 0


def test_bearer_authorizer_caches_by_authorization_header_domain_and_route(
    cfn_template, sam_template
):
    """The cache key must hold everything the answer depends on: the token, the domain the
    issuer is derived from when IssuerUrl is unset (the authorizer prefers the Bearer header to a
    cookie, so a cookie riding along cannot change the answer behind a cached key), and the route,
    whose ROUTE_SCOPES decide too (a simple response has no per-route policy to carry them)."""
    authorizer = lambda_authorizer(cfn_template, BEARER_SCHEME)
    assert authorizer["identitySource"] == [
        "$request.header.Authorization",
        "$context.domainName",
        "$context.routeKey",
    ]
    assert authorizer["authorizerResultTtlInSeconds"] == {"Ref": "AuthorizerCacheTtlSeconds"}
    parameter = sam_template["Parameters"]["AuthorizerCacheTtlSeconds"]
    # Off by default; bounded, because a cached allow outlives logout and exp by up to the TTL.
    assert (parameter["Default"], parameter["MinValue"], parameter["MaxValue"]) == (0, 0, 300)


def route_scopes_of(sam_template: dict[str, Any], function: str) -> dict[str, frozenset[str]]:
    from authcore.config import Settings

    variables = sam_template["Resources"][function]["Properties"]["Environment"]["Variables"]
    return dict(Settings.from_env({"ROUTE_SCOPES": variables["ROUTE_SCOPES"]}).route_scopes)


def test_route_scopes_are_the_same_for_both_authorizers_and_name_protected_routes(
    cfn_template, sam_template
):
    """ROUTE_SCOPES parses (a bad value would fail every cold start), is one map whichever
    authorizer a route names, and names only routes of the API that go through an authorizer:
    a typo in a route key would silently leave the route it meant unscoped."""
    scopes = route_scopes_of(sam_template, "AuthorizerFunction")
    assert scopes == route_scopes_of(sam_template, "SessionAuthorizerFunction")
    assert scopes["GET /api/reports"] == {"reports:read"}
    operations_by_route = operations(http_api_body(cfn_template))
    for route in scopes:
        method, _, path = route.partition(" ")
        assert (method, path) in operations_by_route, f"{route} is not a route of the API"
        # Our Lambda authorizers, not NONE and not NativeJwtAuthorizer: only they read it.
        (scheme,) = operations_by_route[(method, path)]["security"]
        assert set(scheme) <= set(AUTHORIZER_FUNCTIONS), route


def test_routes_reach_their_functions(cfn_template):
    routes = {}
    for route, operation in operations(http_api_body(cfn_template)).items():
        integration = operation["x-amazon-apigateway-integration"]
        assert integration["type"] == "aws_proxy", route
        assert integration["payloadFormatVersion"] == "2.0", route
        (function,) = referenced_functions(integration["uri"])
        routes[route] = function
    assert routes == EXPECTED_ROUTES
    invokable = {
        function_name_target(permission["Properties"]["FunctionName"])
        for permission in resources(cfn_template, "AWS::Lambda::Permission").values()
        if permission["Properties"]["Principal"] == "apigateway.amazonaws.com"
    }
    assert set(EXPECTED_ROUTES.values()) <= invokable


def test_only_login_refresh_logout_and_well_known_are_public(cfn_template):
    body = http_api_body(cfn_template)
    protected_by = [{lambda_authorizer_scheme(body): []}]
    session_checked = [{lambda_authorizer_scheme(body, SESSION_SCHEME): []}]
    problems = []
    for (method, path), operation in operations(body).items():
        security = operation.get("security")
        if is_public(path):
            expected = [{"NONE": []}]
        elif (method, path) in SESSION_CHECKED_ROUTES:
            expected = session_checked
        else:
            expected = protected_by
        if security != expected:
            problems.append(f"{method} {path}: security {security}, expected {expected}")
    assert problems == []
    public = {route for route in operations(body) if is_public(route[1])}
    assert public == {route for route in EXPECTED_ROUTES if is_public(route[1])}
    assert len(public) == 15


def test_a_route_added_later_is_protected_by_default(sam_template, translate_sam):
    """Contract: routes a user adds are behind the authorizer without saying so."""
    template = copy.deepcopy(sam_template)
    template["Resources"]["MeFunction"]["Properties"]["Events"]["Added"] = {
        "Type": "HttpApi",
        "Properties": {"ApiId": {"Ref": "HttpApi"}, "Method": "GET", "Path": "/api/added"},
    }
    body = http_api_body(translate_sam(template))
    operation = body["paths"]["/api/added"]["get"]
    assert operation["security"] == [{lambda_authorizer_scheme(body): []}]


@pytest.mark.parametrize("scheme", [SESSION_SCHEME, BEARER_SCHEME])
def test_a_route_opts_into_another_authorizer(sam_template, translate_sam, scheme):
    """What docs/revocation.md and docs/protecting-routes.md show:
    `Auth: {Authorizer: SessionAuthorizer}` (or BearerAuthorizer) on the route's event."""
    template = copy.deepcopy(sam_template)
    template["Resources"]["MeFunction"]["Properties"]["Events"]["OptedIn"] = {
        "Type": "HttpApi",
        "Properties": {
            "ApiId": {"Ref": "HttpApi"},
            "Method": "GET",
            "Path": "/api/opted-in",
            "Auth": {"Authorizer": scheme},
        },
    }
    body = http_api_body(translate_sam(template))
    operation = body["paths"]["/api/opted-in"]["get"]
    assert operation["security"] == [{lambda_authorizer_scheme(body, scheme): []}]


# ---------------------------------------------------------------- state and keys


@pytest.mark.parametrize("table", ["UsersTable", "SessionsTable"])
def test_table_is_on_demand_recoverable_and_retained(cfn_template, table):
    resource = resources(cfn_template, "AWS::DynamoDB::Table")[table]
    properties = resource["Properties"]
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert properties["SSESpecification"] == {"SSEEnabled": True}
    assert properties["DeletionProtectionEnabled"] == {"Fn::If": ["IsProd", True, False]}
    assert cfn_template["Conditions"]["IsProd"] == {"Fn::Equals": [{"Ref": "Stage"}, "prod"]}
    assert resource["DeletionPolicy"] == "Retain"
    assert resource["UpdateReplacePolicy"] == "Retain"


def test_sessions_expire_through_ttl(cfn_template):
    properties = cfn_template["Resources"]["SessionsTable"]["Properties"]
    assert properties["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}


def test_kms_grants_reach_only_this_stacks_signing_keys(cfn_template):
    """Keys are created at run time; what limits the grants is the stack's tag: kms:Sign and the
    lifecycle actions need it on the key, CreateKey must put it there and make a signing key."""
    checked = 0
    for function in EXPECTED_GRANTS:
        for statement in role_statements(cfn_template, role_of(cfn_template, function)):
            actions = set(as_list(statement["Action"]))
            if statement["Effect"] == "Deny" or not any(a.startswith("kms:") for a in actions):
                continue
            if statement["Resource"] == {"Fn::GetAtt": ["MfaSecretsKey", "Arn"]}:
                continue  # the TOTP key, a resource of the stack (test below)
            checked += 1
            assert _tag_conditioned(statement), (function, statement)
            if "kms:CreateKey" in actions:
                assert statement["Resource"] == "*"
            else:
                assert statement["Resource"] == {"Fn::Sub": KMS_KEYS}
    assert (
        checked == 6
    )  # login, refresh, oauth, passkey, and the rotation function's two statements


def test_the_totp_key_is_used_for_its_purpose_only(cfn_template):
    """The TOTP secrets' key: encrypt or decrypt only with the purpose in the encryption
    context (a sealed secret opens for its user and purpose alone), by the two functions
    that need it; kept when the stack goes."""
    users = {}
    for function in EXPECTED_GRANTS:
        for statement in role_statements(cfn_template, role_of(cfn_template, function)):
            if statement.get("Resource") == {"Fn::GetAtt": ["MfaSecretsKey", "Arn"]}:
                users[function] = set(as_list(statement["Action"]))
                assert statement["Condition"] == {
                    "StringEquals": {"kms:EncryptionContext:purpose": "totp"}
                }
    assert users == {
        "LoginFunction": {"kms:Decrypt"},
        "MfaFunction": {"kms:Encrypt", "kms:Decrypt"},
    }
    key = cfn_template["Resources"]["MfaSecretsKey"]
    assert key["DeletionPolicy"] == key["UpdateReplacePolicy"] == "Retain"
    assert key["Properties"]["EnableKeyRotation"] is True


@pytest.mark.parametrize(
    ("function", "prefixes"),
    [
        ("LoginFunction", ("PENDING_PREFIX",)),
        ("PasskeyFunction", ("PASSKEY_PREFIX", "CHALLENGE_PREFIX")),
    ],
)
def test_put_and_delete_on_the_users_table_reach_only_prefixed_items(
    cfn_template, function, prefixes
):
    """The login function (pending second steps) and the passkey function (passkeys and
    their challenges) may put and delete items of the users table only under their
    prefixes: never an account, whose key no "#" can start."""
    from authcore.mfa import dynamo, passkey_store

    constants = {**vars(dynamo), **vars(passkey_store)}
    writes = [
        statement
        for statement in role_statements(cfn_template, role_of(cfn_template, function))
        if statement["Effect"] == "Allow"
        and {"dynamodb:PutItem", "dynamodb:DeleteItem"} & set(as_list(statement["Action"]))
        and statement["Resource"] == {"Fn::GetAtt": ["UsersTable", "Arn"]}
    ]
    assert len(writes) == 1
    assert writes[0]["Condition"] == {
        "ForAllValues:StringLike": {
            "dynamodb:LeadingKeys": [constants[name] + "*" for name in prefixes]
        }
    }
    assert set(as_list(writes[0]["Action"])) == {"dynamodb:PutItem", "dynamodb:DeleteItem"}


STACK = "auth-test"  # conftest's AWS::StackName


def _condition_holds(condition: dict[str, Any], context: dict[str, Any]) -> bool:
    """IAM's evaluation of the operators the template uses, for one request context (a key
    -> value map; a key absent from it is absent from the request). A key missing from the
    context fails StringEquals and passes StringNotEquals (IAM's negated operators)."""

    def value(v: Any) -> Any:
        return STACK if v == {"Ref": "AWS::StackName"} else v

    for operator, tests in condition.items():
        for key, expected in tests.items():
            wanted = {value(v) for v in as_list(expected)}
            present = key in context
            actual = context.get(key)
            if operator == "StringEquals":
                ok = present and actual in wanted
            elif operator == "StringNotEquals":
                ok = not present or actual not in wanted
            elif operator == "Null":
                ok = (not present) == ("true" in wanted)
            elif operator == "ForAllValues:StringEquals":
                ok = set(as_list(actual or [])) <= wanted
            else:
                pytest.fail(f"operator {operator} not modelled")
            if not ok:
                return False
    return True


def _allowed(statements: list[dict[str, Any]], action: str, context: dict[str, Any]) -> bool:
    def matches(statement: dict[str, Any]) -> bool:
        return action in as_list(statement.get("Action", [])) and _condition_holds(
            statement.get("Condition", {}), context
        )

    if any(s["Effect"] == "Deny" and matches(s) for s in statements):
        return False
    return any(s["Effect"] == "Allow" and matches(s) for s in statements)


def test_the_rotation_role_cannot_retag_another_stacks_signing_keys(cfn_template):
    """kms:TagResource must be granted on "*" (KMS checks it when CreateKey carries tags), so
    the tag conditions alone decide. Retagging another stack's key with this stack's name would
    hand it to this role (DisableKey, ScheduleKeyDeletion) and to the signing functions
    (kms:Sign follows the tag): an explicit Deny refuses any key already tagged otherwise."""
    statements = role_statements(cfn_template, role_of(cfn_template, "KeyRotationFunction"))
    ours = {"aws:RequestTag/auth-stack": STACK, "aws:TagKeys": ["auth-stack"]}
    signing = {"kms:KeyUsage": "SIGN_VERIFY"}
    # Creating and tagging a new signing key of this stack (no tag on it yet).
    assert _allowed(statements, "kms:CreateKey", {**ours, **signing})
    assert _allowed(statements, "kms:TagResource", {**ours, **signing})
    # Re-tagging one of its own keys changes nothing and stays possible.
    own_key = {**ours, **signing, "aws:ResourceTag/auth-stack": STACK}
    assert _allowed(statements, "kms:TagResource", own_key)
    # Another stack's key: never, whatever the request tags say.
    other = {**ours, **signing, "aws:ResourceTag/auth-stack": "auth-prod"}
    assert not _allowed(statements, "kms:TagResource", other)
    assert not _allowed(statements, "kms:UntagResource", other)
    assert not _allowed(statements, "kms:DisableKey", other)
    assert not _allowed(statements, "kms:ScheduleKeyDeletion", other)
    # Nor a tag of another stack, or any other tag key, on anything.
    assert not _allowed(statements, "kms:TagResource", {**ours, "aws:RequestTag/auth-stack": "x"})
    assert not _allowed(
        statements, "kms:TagResource", {**ours, **signing, "aws:TagKeys": ["auth-stack", "o"]}
    )


def test_the_first_keys_exist_before_the_first_login(cfn_template):
    """A custom resource runs the rotation at deploy time; a schedule runs it every interval."""
    bootstrap = cfn_template["Resources"]["KeyRingBootstrap"]
    assert bootstrap["Type"] == "AWS::CloudFormation::CustomResource"
    assert arn_target(bootstrap["Properties"]["ServiceToken"]) == "KeyRotationFunction"
    (schedule,) = resources(cfn_template, "AWS::Scheduler::Schedule").values()
    assert referenced_aliases(schedule["Properties"]["Target"]["Arn"]) == {"KeyRotationFunction"}
    assert "KeyRotationIntervalDays" in json.dumps(schedule["Properties"]["ScheduleExpression"])


def test_outputs_name_the_api_tables_and_authorizer(cfn_template):
    outputs = cfn_template["Outputs"]
    assert set(outputs) >= EXPECTED_OUTPUTS
    assert "${HttpApi}" in json.dumps(outputs["ApiUrl"]["Value"])
    assert outputs["UsersTableName"]["Value"] == {"Ref": "UsersTable"}
    assert outputs["SessionsTableName"]["Value"] == {"Ref": "SessionsTable"}
    for output, function in (
        ("AuthorizerFunctionArn", "AuthorizerFunction"),
        ("SessionAuthorizerFunctionArn", "SessionAuthorizerFunction"),
    ):
        assert arn_target(outputs[output]["Value"]) == function
        assert "Export" in outputs[output]


@pytest.mark.parametrize("function", sorted(EXPECTED_GRANTS))
def test_function_runtime_and_logging_hygiene(cfn_template, function):
    properties = cfn_template["Resources"][function]["Properties"]
    (layer,) = resources(cfn_template, "AWS::Lambda::LayerVersion")
    assert properties["Runtime"] == "python3.12"
    assert properties["Architectures"] == ["arm64"]
    assert properties["Handler"] == "app.lambda_handler"
    assert properties["Layers"] == [{"Ref": layer}]
    variables = properties["Environment"]["Variables"]
    # Events carry passwords, tokens and cookies; responses carry tokens.
    assert variables["POWERTOOLS_LOGGER_LOG_EVENT"] == "false"
    assert variables["POWERTOOLS_TRACER_CAPTURE_RESPONSE"] == "false"


# ---------------------------------------------------------------- sam build


def _elf_machine(path: Path) -> int | None:
    header = path.read_bytes()[:20]
    if header[:4] != b"\x7fELF":
        return None
    return int.from_bytes(header[18:20], "little" if header[5] == 1 else "big")


def _assert_ships_runtime_bytecode(layer: Path, python: Path) -> None:
    """Every module of the layer comes with the bytecode the runtime reads without its source
    (Lambda's /opt is read-only: without it, each cold start compiled what it imported)."""
    sources = sorted(layer.rglob("*.py"))
    assert len(sources) > 500
    missing, checked = [], []
    for source in sources:
        compiled = source.parent / "__pycache__" / f"{source.stem}.cpython-312.pyc"
        if not compiled.is_file():
            missing.append(str(source.relative_to(layer)))
        # PEP 552: flags 0b01, hash-based and never checked against the source.
        elif int.from_bytes(compiled.read_bytes()[4:8], "little") != 1:
            checked.append(str(source.relative_to(layer)))
    assert missing == []
    assert checked == []
    # Python 3.12 runs the layer from that bytecode alone: with every source of authcore
    # turned into an error, its modules still load (pure Python ones: the native wheels
    # are arm64's).
    for source in (layer / "authcore").rglob("*.py"):
        source.write_text("raise SystemExit('compiled at the cold start')\n")
    probe = subprocess.run(
        [str(python), "-c", "import authcore.config, authcore.edge.router; print('ok')"],
        env={"PYTHONPATH": str(layer), "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert probe.stdout.strip() == "ok", probe.stderr[-2000:]


def test_sam_build_packages_the_layer_and_handlers(sam_cli, sam_env, sam_template, tmp_path):
    # sam build resolves the runtime's python3.12 on PATH: put the one infra.toolchain finds
    # (named by $PYTHON312, on PATH, or a pyenv install) first.
    python = find_runtime_python()
    if python is None:
        pytest.skip(f"sam build needs the runtime's Python: {MISSING}")
    env = dict(sam_env, PATH=os.pathsep.join([str(python.path.parent), sam_env["PATH"]]))
    build = tmp_path / "build"
    result = subprocess.run(
        [sam_cli, "build", "--template", str(TEMPLATE), "--build-dir", str(build)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr

    # layers/common/Makefile puts the layer under python/: the package sits right there.
    layer = build / "CommonLayer" / "python"
    assert (layer / "authcore" / "__init__.py").is_file()
    assert not (layer / "python").exists(), "layer nested twice: python/python/"
    installed = {entry.name.lower() for entry in layer.glob("*.dist-info")}
    for line in (ROOT / "layers" / "common" / "requirements.txt").read_text().splitlines():
        requirement = line.split("#", 1)[0].strip()
        if not requirement:
            continue
        name, _, version = requirement.partition("==")
        name = re.sub(r"\[.*\]", "", name).strip().lower().replace("-", "_")
        assert f"{name}-{version.strip()}.dist-info" in installed, requirement
    # Native wheels must match the functions' arm64 architecture, or imports fail at cold start.
    machines = {str(so.relative_to(layer)): _elf_machine(so) for so in layer.rglob("*.so")}
    assert machines, "no native extension found: the pinned crypto dependencies are missing"
    wrong = {name: machine for name, machine in machines.items() if machine != ELF_MACHINE_AARCH64}
    assert wrong == {}
    _assert_ships_runtime_bytecode(layer, python.path)

    for function, resource in sam_template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        module = resource["Properties"]["Handler"].rsplit(".", 1)[0].replace(".", "/")
        assert (build / function / f"{module}.py").is_file(), function


def test_native_jwt_authorizer_is_offered_with_the_issuer_and_audience_of_our_tokens(cfn_template):
    """Routes may opt into API Gateway's own JWT authorizer: it must check exactly our issuer (byte
    for byte, from IssuerUrl) and audience, read the Authorization header, and protect nothing by
    default (it cannot read cookies or run the CSRF check)."""
    body = http_api_body(cfn_template)
    scheme = body["components"]["securitySchemes"][NATIVE_JWT_SCHEME]
    authorizer = scheme["x-amazon-apigateway-authorizer"]
    assert authorizer["type"] == "jwt"
    assert authorizer["identitySource"] == "$request.header.Authorization"
    assert authorizer["jwtConfiguration"]["issuer"] == {
        "Fn::If": ["HasIssuerUrl", {"Ref": "IssuerUrl"}, "https://issuer-url-not-set.invalid"]
    }
    assert authorizer["jwtConfiguration"]["audience"] == [{"Ref": "Audience"}]
    used = {
        name
        for operation in operations(body).values()
        for requirement in operation.get("security", [])
        for name in requirement
    }
    assert NATIVE_JWT_SCHEME not in used


# ---------------------------------------------------------------- logs and alarms

# What CloudWatch Logs accepts as RetentionInDays.
VALID_RETENTION_DAYS = {1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096}
VALID_RETENTION_DAYS |= {1827, 2192, 2557, 2922, 3288, 3653}
RETENTION = {
    "Fn::If": [
        "HasLogRetentionInDays",
        {"Ref": "LogRetentionInDays"},
        {"Fn::FindInMap": ["StageSettings", {"Ref": "Stage"}, "LogRetentionInDays"]},
    ]
}
# Access-log fields an operator needs to follow a request, and what may never be logged: the
# Authorization header and the cookies are bearer credentials, and a query string or path may
# carry whatever a client put there.
ACCESS_LOG_FIELDS = {
    "requestId": "$context.requestId",
    "ip": "$context.identity.sourceIp",
    "routeKey": "$context.routeKey",
    "status": "$context.status",
    "latency": "$context.responseLatency",
    "authorizerError": "$context.authorizer.error",
}
FORBIDDEN_IN_ACCESS_LOG = ("header", "cookie", "querystring", "$context.path", "requestoverride")
# Application metrics the alarms watch, and the function code that emits each.
ALARMED_METRICS = {
    "RefreshTokenReuseAlarm": (
        "RefreshTokenReuseDetected",
        "layers/common/authcore/runtime/signing.py",
    ),
    "LoginFailureSpikeAlarm": ("LoginFailed", "functions/login/app.py"),
}


def test_every_function_has_a_log_group_of_its_own_with_retention(cfn_template):
    groups = resources(cfn_template, "AWS::Logs::LogGroup")
    for function in resources(cfn_template, "AWS::Lambda::Function"):
        properties = groups[f"{function}LogGroup"]["Properties"]
        # The name Lambda writes to, so the stack's group is the one used (and retained as set).
        assert properties["LogGroupName"] == {"Fn::Sub": f"/aws/lambda/${{{function}}}"}
        assert properties["RetentionInDays"] == RETENTION
    assert groups["HttpApiAccessLogGroup"]["Properties"]["RetentionInDays"] == RETENTION
    assert len(groups) == len(resources(cfn_template, "AWS::Lambda::Function")) + 1


def test_retention_is_a_valid_choice_and_longest_in_prod(sam_template):
    parameter = sam_template["Parameters"]["LogRetentionInDays"]
    assert parameter["Default"] == 0  # 0: the stage's default below
    assert set(parameter["AllowedValues"]) - {0} <= VALID_RETENTION_DAYS
    assert sam_template["Conditions"]["HasLogRetentionInDays"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "LogRetentionInDays"}, "0"]}]
    }
    by_stage = {
        stage: settings["LogRetentionInDays"]
        for stage, settings in sam_template["Mappings"]["StageSettings"].items()
    }
    assert set(by_stage) == set(sam_template["Parameters"]["Stage"]["AllowedValues"])
    assert set(by_stage.values()) <= VALID_RETENTION_DAYS
    assert by_stage["prod"] == max(by_stage.values()) > by_stage["dev"]


def test_bootstrap_runs_after_the_rotation_log_group_and_its_fence_exist(cfn_template):
    """The role may not create a log group: invoked before the stack's group exists, the first
    rotation's logs would be lost."""
    depends = set(as_list(cfn_template["Resources"]["KeyRingBootstrap"]["DependsOn"]))
    assert depends >= {"KeyRotationFunctionLogGroup", "KeyRotationFunctionLogsPolicy"}


def _access_log_settings(cfn_template: dict[str, Any]) -> dict[str, Any]:
    (stage,) = resources(cfn_template, "AWS::ApiGatewayV2::Stage").values()
    return stage["Properties"]["AccessLogSettings"]


def test_api_access_log_goes_to_its_own_group(cfn_template):
    settings = _access_log_settings(cfn_template)
    assert settings["DestinationArn"] == {"Fn::GetAtt": ["HttpApiAccessLogGroup", "Arn"]}


def test_api_access_log_is_json_with_the_fields_operators_need(cfn_template):
    entry = json.loads(_access_log_settings(cfn_template)["Format"])
    assert {key: entry.get(key) for key in ACCESS_LOG_FIELDS} == ACCESS_LOG_FIELDS
    assert all(isinstance(value, str) for value in entry.values())


def test_api_access_log_never_records_credentials(cfn_template):
    text = _access_log_settings(cfn_template)["Format"].lower()
    assert [word for word in FORBIDDEN_IN_ACCESS_LOG if word in text] == []
    assert "authorization" not in text


def _alarm_actions_follow_the_topic_parameter(alarm: dict[str, Any]) -> None:
    topic = {"Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]}
    assert alarm["AlarmActions"] == topic
    assert alarm["OKActions"] == topic


def test_alarm_topic_is_optional(sam_template, nested_sam_templates, cfn_template):
    parameter = sam_template["Parameters"]["AlarmTopicArn"]
    assert parameter["Default"] == ""
    pattern = re.compile(parameter["AllowedPattern"])
    assert pattern.fullmatch("")
    assert pattern.fullmatch("arn:aws:sns:eu-west-1:123456789012:auth-alarms")
    assert not pattern.fullmatch("arn:aws:sqs:eu-west-1:123456789012:auth-alarms")
    # The alarms live in infra/alarms/template.yaml, which gets the parent's parameter as is.
    alarms = nested_sam_templates["Alarms"]
    assert alarms["Parameters"]["AlarmTopicArn"] == parameter
    passed = cfn_template["Resources"]["Alarms"]["Properties"]["Parameters"]
    assert passed["AlarmTopicArn"] == {"Ref": "AlarmTopicArn"}
    assert alarms["Conditions"]["HasAlarmTopic"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmTopicArn"}, ""]}]
    }
    assert resources(alarms, "AWS::CloudWatch::Alarm")
    assert not resources(sam_template, "AWS::CloudWatch::Alarm")
    for alarm in resources(alarms, "AWS::CloudWatch::Alarm").values():
        _alarm_actions_follow_the_topic_parameter(alarm["Properties"])
        assert alarm["Properties"]["TreatMissingData"] == "notBreaching"


STACK = "the-stack-name"


def _emitted_dimensions(namespace: str, service: str, metric: str) -> dict[str, str]:
    """What Powertools itself publishes for one metric, with the stack dimension that
    authcore.edge.observability adds: its namespace and dimension names/values."""
    from aws_lambda_powertools import Metrics

    # Metrics instances share one metric set: start and leave it empty.
    metrics = Metrics(namespace=namespace, service=service)
    metrics.clear_metrics()
    metrics.set_default_dimensions(stack=STACK)
    try:
        metrics.add_metric(name=metric, unit="Count", value=1)
        document = metrics.serialize_metric_set()
    finally:
        metrics.clear_metrics()
        metrics.clear_default_dimensions()
    (directive,) = document["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == namespace
    assert [entry["Name"] for entry in directive["Metrics"]] == [metric]
    (names,) = directive["Dimensions"]
    return {name: document[name] for name in names}


@pytest.mark.parametrize("alarm_name", sorted(ALARMED_METRICS))
def test_application_alarms_watch_exactly_what_powertools_publishes(
    cfn_template, alarms_template, alarm_name
):
    """An alarm whose namespace or dimensions differ by one character watches a metric that never
    has data, and with missing data treated as fine it stays green forever."""
    metric, source = ALARMED_METRICS[alarm_name]
    assert f'"{metric}"' in (ROOT / source).read_text(encoding="utf-8"), (metric, source)
    alarm = as_passed(
        alarms_template["Resources"][alarm_name]["Properties"], cfn_template["Resources"]["Alarms"]
    )
    assert alarm["MetricName"] == metric
    emitting = ("LoginFunction", "RefreshFunction")
    for function in emitting:
        variables = cfn_template["Resources"][function]["Properties"]["Environment"]["Variables"]
        namespace = variables["POWERTOOLS_METRICS_NAMESPACE"]
        service = variables["POWERTOOLS_SERVICE_NAME"]
        assert alarm["Namespace"] == namespace, function
        assert variables["STACK_NAME"] == {"Ref": "AWS::StackName"}
        expected = _emitted_dimensions(namespace, service, metric)
        watched = {
            entry["Name"]: STACK if entry["Value"] == {"Ref": "AWS::StackName"} else entry["Value"]
            for entry in alarm["Dimensions"]
        }
        assert watched == expected
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
    assert alarm["Statistic"] == "Sum"


def test_reuse_alarm_fires_on_the_first_detection(alarms_template):
    alarm = alarms_template["Resources"]["RefreshTokenReuseAlarm"]["Properties"]
    assert alarm["Threshold"] == 0
    assert alarm["EvaluationPeriods"] == 1


def test_login_failure_alarm_threshold_is_a_parameter(cfn_template, alarms_template):
    alarm = alarms_template["Resources"]["LoginFailureSpikeAlarm"]["Properties"]
    threshold = as_passed(alarm["Threshold"], cfn_template["Resources"]["Alarms"])
    assert threshold == {"Ref": "LoginFailureAlarmThreshold"}


def test_authorizer_errors_alarm_covers_both_authorizers(cfn_template, alarms_template):
    alarm = as_passed(
        alarms_template["Resources"]["AuthorizerErrorsAlarm"]["Properties"],
        cfn_template["Resources"]["Alarms"],
    )
    watched = set()
    for query in alarm["Metrics"]:
        if "MetricStat" not in query:
            continue
        metric = query["MetricStat"]["Metric"]
        assert (metric["Namespace"], metric["MetricName"]) == ("AWS/Lambda", "Errors")
        (dimension,) = metric["Dimensions"]
        assert dimension["Name"] == "FunctionName"
        watched.add(function_name_target(dimension["Value"]))
    assert watched == set(AUTHORIZER_FUNCTIONS.values())
    (result,) = [query for query in alarm["Metrics"] if query.get("ReturnData", True)]
    assert set(re.findall(r"\w+", result["Expression"])) == {
        query["Id"] for query in alarm["Metrics"] if "MetricStat" in query
    }
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (0, "GreaterThanThreshold")


def test_api_5xx_alarm_watches_this_api(cfn_template, alarms_template):
    alarm = as_passed(
        alarms_template["Resources"]["Api5xxAlarm"]["Properties"],
        cfn_template["Resources"]["Alarms"],
    )
    assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/ApiGateway", "5xx")
    assert alarm["Dimensions"] == [{"Name": "ApiId", "Value": {"Ref": "HttpApi"}}]
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (0, "GreaterThanThreshold")


# ---------------------------------------------------------------- samconfig.toml


@pytest.mark.parametrize("environment", ["dev", "prod"])
def test_samconfig_deploys_each_environment_to_a_stack_of_its_own(sam_template, environment):
    import tomllib

    config = tomllib.loads((ROOT / "samconfig.toml").read_text(encoding="utf-8"))
    deploy = config[environment]["deploy"]["parameters"]
    assert config[environment]["global"]["parameters"]["stack_name"].endswith(f"-{environment}")
    # CAPABILITY_AUTO_EXPAND: CloudFormation asks for it to create the nested applications
    # (infra/edge, infra/alarms); CAPABILITY_IAM for the functions' roles.
    assert deploy["capabilities"] == "CAPABILITY_IAM CAPABILITY_AUTO_EXPAND"
    assert deploy["confirm_changeset"] is (environment == "prod")
    overrides = dict(item.split("=", 1) for item in deploy["parameter_overrides"].split())
    assert overrides["Stage"] == environment
    assert set(overrides) <= set(sam_template["Parameters"])
    # A committed file holds no secret: LockoutKey is given once, at the first deploy.
    secret = {name for name, p in sam_template["Parameters"].items() if p.get("NoEcho")}
    assert not secret & set(overrides)


def test_an_optional_custom_domain_replaces_the_execute_api_hostname(cfn_template):
    """Cookies need the API on the web app's site, which *.execute-api.amazonaws.com never is:
    with CustomDomainName set, the API's $default stage is mapped to it (TLS 1.2, regional)."""
    resources_ = cfn_template["Resources"]
    domain, mapping = resources_["CustomDomain"], resources_["CustomDomainMapping"]
    assert domain["Condition"] == mapping["Condition"] == "HasCustomDomain"
    (configuration,) = domain["Properties"]["DomainNameConfigurations"]
    assert configuration == {
        "CertificateArn": {"Ref": "CertificateArn"},
        "EndpointType": "REGIONAL",
        "SecurityPolicy": "TLS_1_2",
    }
    assert mapping["Properties"]["ApiId"] == {"Ref": "HttpApi"}
    assert mapping["Properties"]["Stage"] == "$default"
    assert mapping["DependsOn"] in resources_
    assert cfn_template["Outputs"]["CustomDomainTarget"]["Condition"] == "HasCustomDomain"
    # SAM writes DisableExecuteApiEndpoint as an OpenAPI `servers` entry without a url, which
    # API Gateway warns about and FailOnWarnings turns into a failed deployment.
    assert "servers" not in http_api_body(cfn_template)
    assert cfn_template["Outputs"]["ApiUrl"]["Value"]["Fn::If"][:2] == [
        "HasCustomDomain",
        {"Fn::Sub": "https://${CustomDomainName}"},
    ]


# ---------------------------------------------------------------- revocation feed (§10)
def test_the_default_authorizer_polls_the_feed_and_the_session_one_does_not(sam_template):
    functions = sam_template["Resources"]
    stateless = functions["AuthorizerFunction"]["Properties"]["Environment"]["Variables"]
    assert stateless["REVOCATION_POLL_SECONDS"] == {"Ref": "RevocationPollSeconds"}
    assert stateless["REVOCATION_FEED_BUCKET"] == {"Ref": "RevocationFeedBucket"}
    parameter = sam_template["Parameters"]["RevocationPollSeconds"]
    assert (parameter["Default"], parameter["MinValue"], parameter["MaxValue"]) == (10, 0, 300)
    # Session mode reads the session itself, sooner: no feed there.
    session = functions["SessionAuthorizerFunction"]["Properties"]["Environment"]["Variables"]
    assert "REVOCATION_POLL_SECONDS" not in session
    assert "REVOCATION_FEED_BUCKET" not in session


def test_the_stream_reaches_the_publisher_at_once_and_only_with_what_ends_a_session(
    sam_template,
):
    resources_ = sam_template["Resources"]
    stream = resources_["SessionsTable"]["Properties"]["StreamSpecification"]
    assert stream == {"StreamViewType": "NEW_AND_OLD_IMAGES"}  # the filters read both images
    [mapping] = [
        r["Properties"]
        for r in resources_.values()
        if r["Type"] == "AWS::Lambda::EventSourceMapping"
    ]
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": ["SessionsTable", "StreamArn"]}
    assert mapping["FunctionName"] == {"Ref": "RevocationFeedFunction.Alias"}
    assert mapping["StartingPosition"] == "LATEST"
    assert mapping["MaximumBatchingWindowInSeconds"] == 0  # the feed's lag starts here
    # Never dropped while the stream keeps them: publishing again is harmless.
    assert mapping["MaximumRetryAttempts"] == -1
    assert mapping["MaximumRecordAgeInSeconds"] == -1
    patterns = [json.loads(f["Pattern"]) for f in mapping["FilterCriteria"]["Filters"]]
    # Lambda filters DynamoDB records on their "dynamodb" key only.
    assert all(set(pattern) == {"dynamodb"} for pattern in patterns)
    # An event on the function itself would attach AWSLambdaDynamoDBExecutionRole (every
    # stream of the account): the mapping stands on its own instead.
    assert "Events" not in resources_["RevocationFeedFunction"]["Properties"]


def test_the_feed_bucket_is_private_and_tls_only(cfn_template):
    bucket = cfn_template["Resources"]["RevocationFeedBucket"]["Properties"]
    assert set(bucket["PublicAccessBlockConfiguration"].values()) == {True}
    assert bucket["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    [policy] = resources(cfn_template, "AWS::S3::BucketPolicy").values()
    [statement] = policy["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Deny"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


@pytest.mark.parametrize("function", ["AuthorizerFunction", "RevocationFeedFunction"])
def test_listing_the_feed_bucket_is_narrowed_to_the_feed(cfn_template, function):
    """ListBucket makes a missing object a 404 rather than a 403 ("nothing published
    yet" must not read as an outage, which fails closed); it lists the feed only."""
    listing = [
        statement
        for statement in role_statements(cfn_template, role_of(cfn_template, function))
        if "s3:ListBucket" in as_list(statement["Action"])
    ]
    assert len(listing) == 1
    assert listing[0]["Condition"] == {"StringLike": {"s3:prefix": "revocations/*"}}


def test_the_stale_feed_alarm_watches_exactly_what_the_authorizer_emits(
    cfn_template, alarms_template, monkeypatch, capsys
):
    """The authorizer writes its EMF by hand (no Powertools there): the alarm's namespace
    and dimensions are checked against a denial it actually logs."""
    from authcore.edge import authorizer
    from authcore.errors import RevocationFeedStale

    variables = cfn_template["Resources"]["AuthorizerFunction"]["Properties"]["Environment"][
        "Variables"
    ]
    assert variables["STACK_NAME"] == {"Ref": "AWS::StackName"}
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", variables["POWERTOOLS_METRICS_NAMESPACE"])
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", variables["POWERTOOLS_SERVICE_NAME"])
    monkeypatch.setenv("STACK_NAME", STACK)
    capsys.readouterr()
    authorizer.log_denial(RevocationFeedStale())
    document = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    (directive,) = document["_aws"]["CloudWatchMetrics"]
    (names,) = directive["Dimensions"]
    emitted = {name: document[name] for name in names}
    alarm = as_passed(
        alarms_template["Resources"]["RevocationFeedStaleAlarm"]["Properties"],
        cfn_template["Resources"]["Alarms"],
    )
    assert (alarm["Namespace"], alarm["MetricName"]) == (directive["Namespace"], "AuthorizerDenied")
    watched = {
        entry["Name"]: STACK if entry["Value"] == {"Ref": "AWS::StackName"} else entry["Value"]
        for entry in alarm["Dimensions"]
    }
    assert watched == emitted


def test_the_feed_behind_alarm_watches_the_publishers_iterator_age(cfn_template, alarms_template):
    alarm = as_passed(
        alarms_template["Resources"]["RevocationFeedBehindAlarm"]["Properties"],
        cfn_template["Resources"]["Alarms"],
    )
    assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/Lambda", "IteratorAge")
    assert alarm["Dimensions"] == [
        {"Name": "FunctionName", "Value": {"Ref": "RevocationFeedFunction"}}
    ]
    # Past a few seconds, a revocation misses the contract's REVOCATION_POLL_SECONDS + 1 s.
    assert alarm["Threshold"] <= 5000


# ---------------------------------------------------------------- SnapStart and the alias
# The functions a user waits for: every route's and both authorizers. Not the rotation (a
# schedule and a custom resource, nobody waits), the mail (asynchronous, nobody waits) nor the
# feed's publisher (its cold start is a fraction of its poll-bound lag, and one warm container
# usually serves the stream).
SNAPSTART_FUNCTIONS = {
    "AuthorizerFunction",
    "SessionAuthorizerFunction",
    "LoginFunction",
    "RefreshFunction",
    "LogoutFunction",
    "SessionsFunction",
    "WellKnownFunction",
    "MeFunction",
    "ReportsFunction",
    "PasswordFunction",
    "MfaFunction",
    "SignupFunction",
    "PasskeyFunction",
    "OAuthFunction",
}


def test_snapstart_is_opt_in_on_the_functions_a_user_waits_for(sam_template, cfn_template):
    parameter = sam_template["Parameters"]["SnapStart"]
    assert parameter["Default"] == "Disabled"
    assert set(parameter["AllowedValues"]) == {"Disabled", "PublishedVersions"}
    assert sam_template["Conditions"]["SnapStartOn"] == {
        "Fn::Equals": [{"Ref": "SnapStart"}, "PublishedVersions"]
    }
    for name, function in resources(cfn_template, "AWS::Lambda::Function").items():
        snapstart = function["Properties"].get("SnapStart")
        if name in SNAPSTART_FUNCTIONS:
            assert snapstart == {
                "ApplyOn": {"Fn::If": ["SnapStartOn", "PublishedVersions", "None"]}
            }, name
        else:
            assert snapstart is None, name
    assert set(resources(cfn_template, "AWS::Lambda::Function")) > SNAPSTART_FUNCTIONS


def test_every_function_publishes_versions_behind_the_alias_live(cfn_template):
    functions = resources(cfn_template, "AWS::Lambda::Function")
    aliases = resources(cfn_template, "AWS::Lambda::Alias")
    assert set(aliases) == {f"{name}{ALIAS}" for name in functions}
    versions = resources(cfn_template, "AWS::Lambda::Version")
    for name, alias in aliases.items():
        assert alias["Properties"]["Name"] == "live"
        version, attribute = alias["Properties"]["FunctionVersion"]["Fn::GetAtt"]
        assert (version in versions, attribute) == (True, "Version"), name
        # A replaced version goes with its snapshot (billed while it exists).
        assert versions[version]["DeletionPolicy"] == "Delete", version


def test_routes_authorizers_stream_schedule_and_mail_invoke_the_alias(cfn_template):
    body = http_api_body(cfn_template)
    for route, operation in operations(body).items():
        uri = operation["x-amazon-apigateway-integration"]["uri"]
        assert referenced_aliases(uri) == referenced_functions(uri), route
    for name in AUTHORIZER_FUNCTIONS:
        scheme = body["components"]["securitySchemes"][lambda_authorizer_scheme(body, name)]
        uri = scheme["x-amazon-apigateway-authorizer"]["authorizerUri"]
        assert referenced_aliases(uri) == {AUTHORIZER_FUNCTIONS[name]}, name
    # API Gateway may invoke the aliases (a permission on the function alone would not do).
    for permission in resources(cfn_template, "AWS::Lambda::Permission").values():
        assert referenced_aliases(permission["Properties"]["FunctionName"]), permission
    (mapping,) = resources(cfn_template, "AWS::Lambda::EventSourceMapping").values()
    assert referenced_aliases(mapping["Properties"]["FunctionName"]) == {"RevocationFeedFunction"}
    (schedule,) = resources(cfn_template, "AWS::Scheduler::Schedule").values()
    assert referenced_aliases(schedule["Properties"]["Target"]["Arn"]) == {"KeyRotationFunction"}
    # Asynchronous mail jobs: EventInvokeConfig (retries, maximum age) is the alias's.
    (invoke_config,) = resources(cfn_template, "AWS::Lambda::EventInvokeConfig").values()
    assert invoke_config["Properties"]["Qualifier"] == "live"
    for name in ("PasswordFunction", "SignupFunction"):
        env = cfn_template["Resources"][name]["Properties"]["Environment"]["Variables"]
        assert referenced_aliases(env["MAIL_FUNCTION"]) == {"AccountMailFunction"}, name
    assert referenced_aliases(cfn_template["Outputs"]["AccountMailFunctionName"]["Value"]) == {
        "AccountMailFunction"
    }
    # CloudFormation refuses to change a custom resource's ServiceToken: the bootstrap keeps
    # the unqualified function, whose code is the same.
    bootstrap = cfn_template["Resources"]["KeyRingBootstrap"]["Properties"]
    assert arn_target(bootstrap["ServiceToken"]) == "KeyRotationFunction"


def test_a_config_revision_publishes_every_function_again(sam_template, translate_sam):
    """A parameter reaches the version hash only through AutoPublishCodeSha256's lone !Ref:
    SnapStart or LogLevel alone publish nothing (the docs tell operators to change
    ConfigRevision with them), ConfigRevision publishes every function."""

    def versions(parameters: dict[str, str]) -> set[str]:
        translated = translate_sam(sam_template, parameters)
        return set(resources(translated, "AWS::Lambda::Version"))

    default = versions({})
    assert versions({"SnapStart": "PublishedVersions"}) == default
    revised = versions({"SnapStart": "PublishedVersions", "ConfigRevision": "2"})
    assert not revised & default
    assert len(revised) == len(default)

"""The per-caller limits (docs/OPERATIONS.md, "Limits"): the web ACL of edge/waf.yaml, and the CloudFront
distribution template.yaml puts in front of the HTTP API with it (EdgeWebAclArn), the only way to the client
routes once it exists. Checked for both values of the switch (tests/support/cloudformation.py)."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from tests.support.cloudformation import deployed, raw_template

EDGE_TEMPLATE = Path(__file__).resolve().parents[1] / "edge" / "waf.yaml"
WEB_ACL_ARN = "arn:aws:wafv2:us-east-1:123456789012:global/webacl/billing-edge-billing/0123abcd"
# Every function behind the HTTP API's JWT authorizer (the portal's client and staff routes) is behind the edge
BEHIND_EDGE = ("ListInvoicesFunction", "CreateCheckoutFunction", "VerifySessionFunction", "PaymentHistoryFunction",
               "StaffInvoicesFunction", "InvoicePdfFunction")
OTHER_FUNCTIONS = ("StripeWebhookFunction", "ReconcileFunction", "StripeEventRetentionFunction", "NotifierFunction")
CHECKOUT_ROUTE = "POST /api/client/billing/{invoiceId}/checkout"


@cache
def edge_template() -> dict[str, Any]:
    from cfnlint.decode import decode_str

    decoded, problems = decode_str(EDGE_TEMPLATE.read_text())
    assert not problems, problems
    return dict(decoded)


def web_acl() -> dict[str, Any]:
    return edge_template()["Resources"]["BillingEdgeWebAcl"]["Properties"]


def rules() -> dict[str, dict[str, Any]]:
    return {rule["Name"]: rule for rule in web_acl()["Rules"]}


def rate(rule: dict[str, Any]) -> dict[str, Any]:
    statement: dict[str, Any] = rule["Statement"]["RateBasedStatement"]
    return statement


def per_second(rule: dict[str, Any]) -> float:
    return float(rate(rule)["Limit"]) / float(rate(rule)["EvaluationWindowSec"])


def stage_budgets() -> tuple[float, float]:
    """Requests per second every caller shares: any route's, checkout's (the HTTP API's throttling)."""
    api = deployed()["Resources"]["BillingHttpApi"]["Properties"]
    return (float(api["DefaultRouteSettings"]["ThrottlingRateLimit"]),
            float(api["RouteSettings"][CHECKOUT_ROUTE]["ThrottlingRateLimit"]))


def scoped_to_checkout(rule: dict[str, Any]) -> bool:
    match = rate(rule).get("ScopeDownStatement", {}).get("ByteMatchStatement")
    return bool(match) and match["FieldToMatch"] == {"UriPath": {}} and (
        match["PositionalConstraint"], match["SearchString"]) == ("ENDS_WITH", "/checkout")


# ----- the web ACL (edge/waf.yaml) -----------------------------------------------------------------------------

def test_the_web_acl_is_a_cloudfront_one_and_lets_through_what_no_rule_blocks() -> None:
    assert web_acl()["Scope"] == "CLOUDFRONT"  # so the stack must be in us-east-1: its description says so
    assert "us-east-1" in edge_template()["Description"]
    assert web_acl()["DefaultAction"] == {"Allow": {}}


def test_each_id_token_has_its_own_budget_on_every_route_and_on_checkout() -> None:
    for name in ("per-caller", "per-caller-checkout"):
        statement = rate(rules()[name])
        assert statement["AggregateKeyType"] == "CUSTOM_KEYS"
        # the whole header, untransformed: one Firebase ID token, one user's, is one key
        assert statement["CustomKeys"] == [{"Header": {"Name": "authorization",
                                                       "TextTransformations": [{"Priority": 0, "Type": "NONE"}]}}]
    assert "ScopeDownStatement" not in rate(rules()["per-caller"])
    assert scoped_to_checkout(rules()["per-caller-checkout"])


def test_each_source_address_has_a_budget_that_counts_every_request_token_or_not() -> None:
    # A request without Authorization is not counted by the per-caller rules (a missing key is skipped), and an
    # invented token is a new key each time: the address rules count both
    for name in ("per-ip", "per-ip-checkout"):
        assert rate(rules()[name])["AggregateKeyType"] == "IP"
    assert "ScopeDownStatement" not in rate(rules()["per-ip"])
    assert scoped_to_checkout(rules()["per-ip-checkout"])


def test_no_single_caller_or_address_can_use_up_a_routes_shared_budget() -> None:
    any_route, checkout = stage_budgets()
    assert set(rules()) == {"per-caller", "per-caller-checkout", "per-ip", "per-ip-checkout"}
    for name, rule in rules().items():
        budget = checkout if scoped_to_checkout(rule) else any_route
        assert per_second(rule) < budget, name
        assert rate(rule)["Limit"] >= 10 and rate(rule)["EvaluationWindowSec"] in (60, 120, 300, 600)  # AWS WAF's
    # the figures docs/OPERATIONS.md gives
    assert {name: (rate(rule)["Limit"], rate(rule)["EvaluationWindowSec"]) for name, rule in rules().items()} == {
        "per-caller": (300, 60), "per-caller-checkout": (30, 60), "per-ip": (600, 60), "per-ip-checkout": (120, 60)}
    operations = (Path(__file__).resolve().parents[1] / "docs" / "OPERATIONS.md").read_text()
    for figure in ("300 requests a minute", "30 a minute", "600 requests a minute", "120 a minute"):
        assert figure in operations


def test_a_caller_over_a_limit_is_answered_429_and_the_checkout_rules_come_first() -> None:
    for rule in rules().values():
        block = rule["Action"]["Block"]["CustomResponse"]
        assert block["ResponseCode"] == 429
        assert block["CustomResponseBodyKey"] in web_acl()["CustomResponseBodies"]
    priorities = {name: rule["Priority"] for name, rule in rules().items()}
    assert len(set(priorities.values())) == len(priorities)


def test_the_web_acl_logs_with_a_retention_period_and_never_the_token() -> None:
    resources = edge_template()["Resources"]
    logging = resources["BillingEdgeWebAclLogging"]["Properties"]
    assert logging["RedactedFields"] == [{"SingleHeader": {"Name": "authorization"}}]
    group = resources["BillingEdgeWebAclLogs"]["Properties"]
    assert group["LogGroupName"]["Fn::Sub"].startswith("aws-waf-logs-")  # the only names AWS WAF writes to
    assert group["RetentionInDays"] == {"Ref": "LogRetentionDays"}


# ----- the billing stack with and without the edge -------------------------------------------------------------

def test_every_function_is_either_behind_the_edge_or_not_on_the_authorized_api() -> None:
    from local.template import http_routes

    resources = deployed()["Resources"]
    assert set(BEHIND_EDGE) | set(OTHER_FUNCTIONS) == {
        name for name, resource in resources.items() if resource["Type"] == "AWS::Serverless::Function"}
    assert {route.function for route in http_routes() if route.authorized} == set(BEHIND_EDGE)


def test_without_the_edge_nothing_is_made_and_nothing_is_checked() -> None:
    template = deployed()
    assert not {"EdgeDistribution", "EdgeOriginSecret"} & set(template["Resources"])
    for name in BEHIND_EDGE:
        function = template["Resources"][name]["Properties"]
        assert function["Environment"]["Variables"]["EDGE_ORIGIN_VERIFY_SECRET_ARN"] == ""
        assert "EdgeOriginSecret" not in str(function["Policies"])
    assert "execute-api" in template["Outputs"]["BillingApiUrl"]["Value"]["Fn::Sub"]


def test_with_the_edge_cloudfront_carries_the_web_acl_in_front_of_the_http_api() -> None:
    template = deployed(EdgeWebAclArn=WEB_ACL_ARN)
    config = template["Resources"]["EdgeDistribution"]["Properties"]["DistributionConfig"]
    assert config["WebACLId"] == WEB_ACL_ARN and config["Enabled"] is True
    (origin,) = config["Origins"]
    assert origin["DomainName"] == {"Fn::Sub": "${BillingHttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}"}
    assert origin["CustomOriginConfig"]["OriginProtocolPolicy"] == "https-only"
    behaviour = config["DefaultCacheBehavior"]
    assert behaviour["TargetOriginId"] == origin["Id"] and behaviour["ViewerProtocolPolicy"] == "https-only"
    assert {"GET", "POST", "OPTIONS"} <= set(behaviour["AllowedMethods"])
    # CachingDisabled, with which AllViewerExceptHostHeader forwards Authorization (the JWT authorizer's and the
    # web ACL's key) and Origin (CORS), never the Host (API Gateway answers its own name only)
    assert behaviour["CachePolicyId"] == "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
    assert behaviour["OriginRequestPolicyId"] == "b689b0a8-53d0-40ab-baf2-68738e2966ac"
    assert template["Outputs"]["BillingApiUrl"]["Value"] == {"Fn::Sub": "https://${EdgeDistribution.DomainName}/"}


def test_with_the_edge_the_client_routes_refuse_what_did_not_come_through_cloudfront() -> None:
    from billing.edge import EDGE_HEADER

    template = deployed(EdgeWebAclArn=WEB_ACL_ARN)
    resources = template["Resources"]
    (header,) = resources["EdgeDistribution"]["Properties"]["DistributionConfig"]["Origins"][0]["OriginCustomHeaders"]
    assert header["HeaderName"].lower() == EDGE_HEADER
    # CloudFront sends the secret's "current" value; the functions read the same secret (billing/edge.py)
    assert header["HeaderValue"] == {"Fn::Sub": "{{resolve:secretsmanager:${EdgeOriginSecret}:SecretString:current}}"}
    # a new value rolls out by naming its version: the template changes, so CloudFormation reads the secret again
    pinned = deployed(EdgeWebAclArn=WEB_ACL_ARN, EdgeOriginSecretVersionId="v2")["Resources"]["EdgeDistribution"]
    (header,) = pinned["Properties"]["DistributionConfig"]["Origins"][0]["OriginCustomHeaders"]
    assert header["HeaderValue"] == {
        "Fn::Sub": "{{resolve:secretsmanager:${EdgeOriginSecret}:SecretString:current::${EdgeOriginSecretVersionId}}}"}
    generated = resources["EdgeOriginSecret"]["Properties"]["GenerateSecretString"]
    assert generated["GenerateStringKey"] == "current" and generated["PasswordLength"] >= 32
    assert generated["SecretStringTemplate"] == '{"previous": ""}'
    for name in BEHIND_EDGE:
        function = resources[name]["Properties"]
        assert function["Environment"]["Variables"]["EDGE_ORIGIN_VERIFY_SECRET_ARN"] == {"Ref": "EdgeOriginSecret"}
        assert {"AWSSecretsManagerGetSecretValuePolicy": {"SecretArn": {"Ref": "EdgeOriginSecret"}}} in \
            function["Policies"]
    for name in OTHER_FUNCTIONS:  # Stripe is not behind the edge: the webhook keeps its own ingress
        assert "EDGE_ORIGIN" not in str(resources[name]["Properties"])
        assert "EdgeOriginSecret" not in str(resources[name]["Properties"])


@pytest.mark.parametrize(("value", "accepted"), [
    ("", True), (WEB_ACL_ARN, True),
    ("arn:aws:wafv2:eu-west-1:123456789012:regional/webacl/billing/0123abcd", False),  # a regional web ACL
    ("arn:aws:wafv2:eu-west-1:123456789012:global/webacl/billing/0123abcd", False),
    ("0123abcd", False),  # a WAF Classic id
])
def test_the_switch_takes_only_a_cloudfront_web_acl(value: str, accepted: bool) -> None:
    pattern = raw_template()["Parameters"]["EdgeWebAclArn"]["AllowedPattern"]
    assert bool(re.fullmatch(pattern, value)) is accepted

"""What the template deploys to hold Lambda's concurrency and to be operated: RDS Proxy with IAM authentication
behind its switch, the webhook's one ingress and reserved concurrency, throttling, access logs, a retention period
on every log group. Each is checked for the parameter values that choose it (tests/support/cloudformation.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.support.cloudformation import deployed, of_type

FUNCTIONS = ("ListInvoicesFunction", "CreateCheckoutFunction", "VerifySessionFunction", "StripeWebhookFunction",
             "ReconcileFunction", "StripeEventRetentionFunction", "PaymentHistoryFunction", "StaffInvoicesFunction",
             "InvoicePdfFunction", "NotifierFunction")


def login_statement(template) -> dict:
    (statement,) = template["Resources"]["DatabaseLoginPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    return statement


def test_every_function_logs_in_to_the_database_through_the_one_login_policy_and_nothing_else() -> None:
    for use_proxy in ("true", "false"):
        resources = deployed(UseRdsProxy=use_proxy)["Resources"]
        assert set(of_type(resources, "AWS::Serverless::Function")) == set(FUNCTIONS)
        for name in FUNCTIONS:
            policies = resources[name]["Properties"]["Policies"]
            assert {"Ref": "DatabaseLoginPolicy"} in policies
            assert "DatabaseSecretArn" not in json.dumps(policies)  # never read beside the login policy


def test_through_rds_proxy_the_functions_log_in_with_iam_and_hold_no_database_secret() -> None:
    template = deployed(UseRdsProxy="true", DatabaseInstanceIdentifier="billing-db", DatabaseUser="billing")
    proxy = template["Resources"]["DatabaseProxy"]["Properties"]
    (auth,) = proxy["Auth"]
    assert auth["IAMAuth"] == "REQUIRED" and proxy["RequireTLS"] is True and proxy["EngineFamily"] == "POSTGRESQL"
    target = template["Resources"]["DatabaseProxyTargetGroup"]["Properties"]
    assert target["DBInstanceIdentifiers"] == ["billing-db"] and "DBClusterIdentifiers" not in target
    assert target["ConnectionPoolConfigurationInfo"]["ConnectionBorrowTimeout"] < 28  # below the function timeout

    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["DATABASE_IAM_AUTH"] == "true" and variables["DATABASE_SECRET_ARN"] == ""
    assert variables["DATABASE_USER"] == "billing"
    assert variables["DATABASE_HOST"] == {"Fn::GetAtt": ["DatabaseProxy", "Endpoint"]}
    statement = login_statement(template)
    assert statement["Action"] == "rds-db:connect"
    assert statement["Resource"]["Fn::Sub"][0].endswith(":dbuser:${ProxyId}/${DatabaseUser}")
    # The proxy, not the functions, reads the secret
    role = template["Resources"]["DatabaseProxyRole"]["Properties"]
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "rds.amazonaws.com"}


def test_an_aurora_cluster_is_the_proxys_target_when_named() -> None:
    target = deployed(UseRdsProxy="true", DatabaseClusterIdentifier="billing-aurora")["Resources"][
        "DatabaseProxyTargetGroup"]["Properties"]
    assert target["DBClusterIdentifiers"] == ["billing-aurora"] and "DBInstanceIdentifiers" not in target


def test_without_the_proxy_there_is_none_and_the_functions_log_in_with_the_secret() -> None:
    secret = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:db"
    template = deployed(UseRdsProxy="false", DatabaseSecretArn=secret)
    assert not of_type(template["Resources"], "AWS::RDS::DBProxy")
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["DATABASE_IAM_AUTH"] == "false"
    assert variables["DATABASE_SECRET_ARN"] == "arn:aws:secretsmanager:eu-west-1:123456789012:secret:db"
    assert login_statement(template) == {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
                                         "Resource": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:db"}


@pytest.mark.parametrize("ingress", ["FunctionUrl", "HttpApi"])
def test_the_webhook_has_exactly_one_public_ingress(ingress) -> None:
    resources = deployed(WebhookIngress=ingress)["Resources"]
    urls = of_type(resources, "AWS::Lambda::Url")
    routes = of_type(resources, "AWS::ApiGatewayV2::Route")
    webhook = resources["StripeWebhookFunction"]["Properties"]
    assert "FunctionUrlConfig" not in webhook and "Events" not in webhook  # no ingress beside the chosen one
    if ingress == "FunctionUrl":
        assert list(urls) == ["StripeWebhookUrl"] and not routes
        assert urls["StripeWebhookUrl"]["Properties"]["AuthType"] == "NONE"
    else:
        assert not urls and [r["Properties"]["RouteKey"] for r in routes.values()] == ["POST /api/webhook/stripe"]
    permissions = of_type(resources, "AWS::Lambda::Permission")
    assert len(permissions) == 1  # the one ingress may invoke it
    endpoint = deployed(WebhookIngress=ingress)["Outputs"]["StripeWebhookEndpoint"]["Value"]
    assert ("StripeWebhookUrl" in json.dumps(endpoint)) is (ingress == "FunctionUrl")


def test_the_webhook_has_reserved_concurrency_the_client_routes_cannot_lose_to_it() -> None:
    resources = deployed(WebhookReservedConcurrency="20")["Resources"]
    assert resources["StripeWebhookFunction"]["Properties"]["ReservedConcurrentExecutions"] == "20"
    for name in ("ListInvoicesFunction", "CreateCheckoutFunction", "VerifySessionFunction"):
        assert "ReservedConcurrentExecutions" not in resources[name]["Properties"]  # the account's unreserved pool


def test_client_routes_are_throttled_and_checkout_more_tightly() -> None:
    api = deployed()["Resources"]["BillingHttpApi"]["Properties"]
    default = api["DefaultRouteSettings"]
    checkout = api["RouteSettings"]["POST /api/client/billing/{invoiceId}/checkout"]
    assert default["ThrottlingRateLimit"] > 0 and default["ThrottlingBurstLimit"] > 0
    assert checkout["ThrottlingRateLimit"] < default["ThrottlingRateLimit"]
    assert checkout["ThrottlingBurstLimit"] < default["ThrottlingBurstLimit"]


def test_the_api_writes_an_access_log_without_headers_or_bodies() -> None:
    resources = deployed()["Resources"]
    settings = resources["BillingHttpApi"]["Properties"]["AccessLogSettings"]
    assert settings["DestinationArn"] == {"Fn::GetAtt": ["HttpApiAccessLogs", "Arn"]}
    fields = json.loads(settings["Format"])
    assert {"requestId", "routeKey", "status", "ip"} <= set(fields)
    assert not any("header" in value.lower() or "body" in value.lower() for value in fields.values())


def test_every_log_group_has_a_retention_period_and_every_function_its_log_group() -> None:
    resources = deployed(LogRetentionDays="90")["Resources"]
    groups = of_type(resources, "AWS::Logs::LogGroup")
    assert all(group["Properties"]["RetentionInDays"] == "90" for group in groups.values())
    named = {json.dumps(group["Properties"]["LogGroupName"]) for group in groups.values()}
    for function in FUNCTIONS:
        assert json.dumps({"Fn::Sub": f"/aws/lambda/${{{function}}}"}) in named


# ----- alarms and the dashboard ---------------------------------------------------------------------------------

ALARMS = {"FunctionErrorsAlarm", "FunctionThrottlesAlarm", "WebhookClientErrorRateAlarm", "WebhookServerErrorRateAlarm",
          "ReconciliationRepairsAlarm", "ReconcileFailuresAlarm", "MismatchedPaymentsAlarm", "NotificationFailedAlarm"}
LAYER = Path(__file__).resolve().parents[1] / "layers" / "common" / "billing"


def custom_metrics(alarm: dict) -> set[str]:
    properties = alarm["Properties"]
    stats = [m["MetricStat"]["Metric"] for m in properties.get("Metrics", []) if "MetricStat" in m]
    if "MetricName" in properties:
        stats.append(properties)
    return {s["MetricName"] for s in stats if s["Namespace"] == "ClientPortal"}


def test_every_failure_mode_has_an_alarm_that_notifies_the_topic_and_its_runbook_entry() -> None:
    topic = "arn:aws:sns:eu-west-1:123456789012:billing-alarms"
    alarms = of_type(deployed(AlarmTopicArn=topic)["Resources"], "AWS::CloudWatch::Alarm")
    runbook = (LAYER.parents[2] / "docs" / "OPERATIONS.md").read_text()
    assert set(alarms) == ALARMS
    for name, alarm in alarms.items():
        properties = alarm["Properties"]
        assert properties["AlarmActions"] == [topic] and properties["OKActions"] == [topic]
        anchor = properties["AlarmDescription"].rsplit("docs/OPERATIONS.md#", 1)[1]
        assert f"### {name.removesuffix('Alarm')}" in runbook and anchor == name.removesuffix("Alarm").lower()


def test_the_alarms_watch_metrics_the_code_emits_with_only_the_service_dimension() -> None:
    source = "\n".join(path.read_text() for path in LAYER.rglob("*.py"))
    for name, alarm in of_type(deployed()["Resources"], "AWS::CloudWatch::Alarm").items():
        for metric in custom_metrics(alarm):
            assert f'"{metric}"' in source, (name, metric)


def test_the_dashboard_is_json_showing_every_alarm() -> None:
    body = deployed()["Resources"]["OperationsDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"][0]
    dashboard = json.loads(re.sub(r"\$\{([^}]+)\}", r"\1", body))
    (alarm_widget,) = [w for w in dashboard["widgets"] if w["type"] == "alarm"]
    assert {arn.removesuffix(".Arn") for arn in alarm_widget["properties"]["alarms"]} == ALARMS

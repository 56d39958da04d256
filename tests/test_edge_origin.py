"""Behind the edge (template.yaml's EdgeWebAclArn), the client routes answer only what came through CloudFront,
where the per-caller limits are: a request sent to the HTTP API's own address is refused before its token is
looked at. The secret is created in Secrets Manager (moto) in the template's JSON shape, as on AWS."""

from __future__ import annotations

import json
import os

import pytest

from harness.events import client_request, decode

CURRENT, NEXT = "c" * 48, "n" * 48


@pytest.fixture
def edge_secret(moto_secrets_manager, monkeypatch):
    """The deployment's edge origin secret, and how to roll it as docs/OPERATIONS.md says."""
    arn = moto_secrets_manager.create_secret(Name="i13-edge-origin",
                                             SecretString=json.dumps({"current": CURRENT, "previous": ""}))["ARN"]
    monkeypatch.setenv("EDGE_ORIGIN_VERIFY_SECRET_ARN", arn)

    def store(current: str, previous: str) -> None:
        from aws_lambda_powertools.utilities import parameters

        moto_secrets_manager.put_secret_value(SecretId=arn,
                                              SecretString=json.dumps({"current": current, "previous": previous}))
        parameters.clear_caches()  # what five minutes (secret_store.MAX_AGE_SECONDS) do in every container

    return store


def client_calls(functions, api, alice, invoice_id, session_id):
    """Each route's handler behind the API's authorizer (the portal's client routes, a staff route) and its event,
    as API Gateway passes it on."""
    from harness.events import staff_request

    token = api.token(alice)
    return {
        "payment_history": (functions.payment_history,
                            client_request("payment_history", token, invoiceId=invoice_id)),
        "staff_invoices": (functions.staff_invoices, staff_request("GET /api/admin/invoices", api.staff_token())),
        "list_invoices": (functions.list_invoices, client_request("list_invoices", token)),
        "create_checkout": (functions.create_checkout,
                            client_request("create_checkout", token, invoiceId=invoice_id)),
        "verify_session": (functions.verify_session,
                           client_request("verify_session", token, invoiceId=invoice_id, sessionId=session_id)),
    }


def call(route, origin_header: str | None):
    handler, event = route
    if origin_header is not None:
        event = {**event, "headers": {**event["headers"], "x-origin-verify": origin_header}}
    return decode(handler(event, None))


def test_every_portal_route_refuses_a_request_that_went_around_the_edge_before_looking_at_its_token(
        functions, api, open_checkout, edge_secret, firebase_verifications) -> None:
    # Given a deployment behind the edge, and Alice with a valid token and an open checkout
    alice, invoice_id, session_id = open_checkout
    firebase_verifications.clear()

    for name, route in client_calls(functions, api, alice, invoice_id, session_id).items():
        # When her request comes to the HTTP API's own address: without the edge's header, or with a guess
        for header in (None, "", "x", CURRENT[:-1], CURRENT + "c", NEXT):
            # Then it is refused, and no token was verified (nor database or Stripe asked)
            assert call(route, header) == (403, {"error": "forbidden"}), (name, header)
    assert firebase_verifications == []


def test_every_portal_route_answers_what_came_through_the_edge(functions, api, open_checkout, edge_secret) -> None:
    alice, invoice_id, session_id = open_checkout
    for name, route in client_calls(functions, api, alice, invoice_id, session_id).items():
        assert call(route, CURRENT)[0] == 200, name


def test_a_new_value_rolls_out_without_a_refused_request_and_the_old_one_stops_working(
        functions, api, open_checkout, edge_secret) -> None:
    alice, invoice_id, session_id = open_checkout
    list_invoices = client_calls(functions, api, alice, invoice_id, session_id)["list_invoices"]

    # Step 1: the new value is current, the old one still accepted, while CloudFront still sends the old one
    edge_secret(NEXT, CURRENT)
    assert call(list_invoices, CURRENT)[0] == 200
    assert call(list_invoices, NEXT)[0] == 200
    # Step 2: once CloudFront sends the new one, the old one is dropped
    edge_secret(NEXT, "")
    assert call(list_invoices, NEXT)[0] == 200
    assert call(list_invoices, CURRENT) == (403, {"error": "forbidden"})


@pytest.mark.parametrize("stored", ['{"previous": ""}', '{"current": ""}', "not json", '["c"]'])
def test_a_malformed_secret_refuses_every_request_instead_of_accepting_any(
        functions, api, open_checkout, edge_secret, moto_secrets_manager, stored) -> None:
    from aws_lambda_powertools.utilities import parameters

    alice, invoice_id, session_id = open_checkout
    moto_secrets_manager.put_secret_value(SecretId=os.environ["EDGE_ORIGIN_VERIFY_SECRET_ARN"], SecretString=stored)
    parameters.clear_caches()
    list_invoices = client_calls(functions, api, alice, invoice_id, session_id)["list_invoices"]
    for header in (None, "", CURRENT):
        assert call(list_invoices, header) == (500, {"error": "internal error"})


def test_the_webhook_is_not_behind_the_edge(api, open_checkout, stripe_double, edge_secret) -> None:
    # Stripe calls the webhook's own ingress (WebhookIngress); its signature, not the edge, admits a delivery
    _, _, session_id = open_checkout
    (completed,) = stripe_double.complete_session(session_id)
    assert api.deliver(completed) == (200, {"received": True, "outcome": "paid"})

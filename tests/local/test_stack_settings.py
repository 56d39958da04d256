"""The one lookup the local tools share (make token, make sign, make stripe-events): the environment's setting, else
the running stack's, else the local default; and make sign re-signing a sample event in place."""

from __future__ import annotations

import json
import os

import pytest
import stripe

from local import sign
from local.stack import FUNCTION_DEFAULTS, Stack, StackNotRunning, stack_setting
from local.template import ROOT


def running_stack(state_dir, **environment: str) -> None:
    Stack("http://127.0.0.1:1", "http://127.0.0.1:2", "http://127.0.0.1:1/api/webhook/stripe",
          dict(environment), {"dev": os.getpid()}).save(state_dir)  # this process stands in for make dev


@pytest.mark.parametrize(
    ("environ", "stack", "value"),
    [
        ({"FIREBASE_PROJECT_ID": "demo-from-env"}, {"FIREBASE_PROJECT_ID": "demo-from-stack"}, "demo-from-env"),
        ({}, {"FIREBASE_PROJECT_ID": "demo-from-stack"}, "demo-from-stack"),
        ({"FIREBASE_PROJECT_ID": ""}, {"FIREBASE_PROJECT_ID": "demo-from-stack"}, "demo-from-stack"),
        ({}, None, FUNCTION_DEFAULTS["FIREBASE_PROJECT_ID"]),
    ],
    ids=["the environment wins", "else the running stack's", "an empty one is unset", "else the default"],
)
def test_environment_else_stack_else_default(tmp_path, environ, stack, value) -> None:
    if stack is not None:
        running_stack(tmp_path, **stack)
    assert stack_setting("FIREBASE_PROJECT_ID", environ, tmp_path) == value


def test_a_setting_without_a_default_needs_the_environment_or_a_stack(tmp_path) -> None:
    with pytest.raises(StackNotRunning):
        stack_setting("DATABASE_URL", {}, tmp_path)
    running_stack(tmp_path, DATABASE_URL="sqlite:///stack.sqlite3")
    assert stack_setting("DATABASE_URL", {}, tmp_path) == "sqlite:///stack.sqlite3"


def test_make_sign_re_signs_a_sample_event_in_place(tmp_path, monkeypatch) -> None:
    sample = json.loads((ROOT / "events" / "stripe_webhook.json").read_text())
    event_file = tmp_path / "event.json"
    event_file.write_text(json.dumps(sample))
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", "whsec_test_resign")

    assert sign.main(["--event", str(event_file)]) == 0

    signed = json.loads(event_file.read_text())
    assert list(signed["headers"]) == list(sample["headers"])  # the signature keeps its place
    assert signed["body"] == sample["body"]
    stripe.WebhookSignature.verify_header(signed["body"], signed["headers"]["stripe-signature"], "whsec_test_resign",
                                          stripe.Webhook.DEFAULT_TOLERANCE)

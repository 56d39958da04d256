"""Nothing local in production: the rules of billing.config_rules, applied by every function at start (a refused
configuration never serves) and by `make doctor` in the same words; the template refusing what they refuse."""

from __future__ import annotations

import re

import pytest

from billing import config_rules
from billing.errors import ConfigurationError
from billing.settings import Need, load_settings
from local import doctor
from local.template import function_definitions, load_handler, template
from tests.support.container import new_container

LIVE_KEY = "sk_live_51Habcdefghijklmnop"
TEST_KEY = "sk_test_51Habcdefghijklmnop"


@pytest.mark.parametrize("url", [
    "https://portal.example.com", "https://portal.example.com/", "https://portal.example.com:8443",
    "https://10.0.0.7", "http://localhost:3000", "http://127.0.0.1:3000", "http://[::1]:3000",
])
def test_an_https_origin_or_a_local_http_one_is_accepted(url) -> None:
    assert config_rules.portal_url_problems(url) == []


@pytest.mark.parametrize(("url", "reason"), [
    ("https://portal.example.com@evil.example", "user info"),  # payers would be sent to evil.example
    ("https://user:pass@portal.example.com", "user info"),
    ("https://evil.example\\@portal.example.com", "user info"),
    ("https://evil.example\\.portal.example.com", "unusual host"),
    ("https://portal.example.com%2F@evil.example", "user info"),
    ("https://Portal.Example.com", "unusual host"),
    ("https://portal.example.com:99999", "no valid port"),
    ("https://portal.example.com/app", "path, query or fragment"),
    ("https://portal.example.com?next=https://evil.example", "path, query or fragment"),
    ("https://portal.example.com#x", "path, query or fragment"),
    ("https://portal.example.com?", "path, query or fragment"),
    ("http://portal.example.com", "must be https"),
    ("http://localhost.evil.example", "must be https"),
    ("javascript:alert(1)", "not an absolute URL"),
    ("//portal.example.com", "not an absolute URL"),
    ("portal.example.com", "not an absolute URL"),
])
def test_anything_else_is_refused(url, reason) -> None:
    (problem,) = config_rules.portal_url_problems(url)
    assert reason in problem


def test_a_function_refuses_to_start_with_a_portal_url_that_sends_payers_elsewhere(monkeypatch) -> None:
    code_dir, handler = function_definitions()["CreateCheckoutFunction"]
    monkeypatch.setenv("PORTAL_URL", "https://portal.example.com@evil.example")
    with pytest.raises(ConfigurationError, match="user info"):  # at import, as on a cold start
        load_handler(code_dir, handler, "CreateCheckoutFunction_portal_rule")


def test_doctor_reports_the_functions_own_words() -> None:
    url = "https://portal.example.com@evil.example"
    (expected,) = config_rules.portal_url_problems(url)
    environ = {"PORTAL_URL": url, "STRIPE_EVENT_RETENTION_DAYS": "90"}
    found = [f.text for f in doctor.check(environ, target="aws", check_database=False) if not f.ok]
    assert f"portal: {expected} (README, Configuration)" in found


FIREBASE = frozenset({Need.FIREBASE})


def test_emulator_mode_is_accepted_for_a_demo_project_only() -> None:
    emulator = {"FIREBASE_PROJECT_ID": "demo-billing", "FIREBASE_AUTH_EMULATOR_HOST": "127.0.0.1:9099"}
    assert load_settings(FIREBASE, emulator).firebase_project_id == "demo-billing"
    with pytest.raises(ConfigurationError, match="allowed only for an emulator-only demo- project"):
        load_settings(FIREBASE, {"FIREBASE_PROJECT_ID": "client-portal-prod",
                                 "FIREBASE_AUTH_EMULATOR_HOST": "127.0.0.1:9099"})


def test_aws_sam_local_set_on_a_deployed_function_enables_nothing() -> None:
    # What `sam local` sets, and anyone can set on a deployed function by mistake: emulator mode stays refused
    deployed = {"FIREBASE_PROJECT_ID": "client-portal-prod", "AWS_LAMBDA_FUNCTION_NAME": "ListInvoicesFunction",
                "AWS_SAM_LOCAL": "true", "FIREBASE_AUTH_EMULATOR_HOST": "127.0.0.1:9099"}
    with pytest.raises(ConfigurationError, match="FIREBASE_AUTH_EMULATOR_HOST"):
        load_settings(FIREBASE, deployed)


def test_at_the_route_an_unsigned_token_stays_refused_with_aws_sam_local_set(world, api, token_issuer) -> None:
    alice = world.contact(world.company())
    with new_container(AWS_SAM_LOCAL="true", AWS_LAMBDA_FUNCTION_NAME="ListInvoicesFunction"):
        assert api.list_invoices(alice, token=token_issuer.unsigned_token(alice.uid))[0] == 401
        assert api.list_invoices(alice, token=token_issuer.token(alice.uid))[0] == 200


STRIPE = frozenset({Need.STRIPE_API})


@pytest.mark.parametrize("key", [TEST_KEY, "rk_test_51Habcdefghijklmnop"])
def test_another_stripe_api_base_is_accepted_with_a_test_key(key) -> None:
    settings = load_settings(STRIPE, {"STRIPE_SECRET_KEY": key, "STRIPE_API_BASE": "http://127.0.0.1:12111",
                                      "STRIPE_MODE": "test"})
    assert settings.stripe_api_base == "http://127.0.0.1:12111"


@pytest.mark.parametrize("key", [LIVE_KEY, "rk_live_51Habcdefghijk", "some_key_of_no_known_form"])
def test_another_stripe_api_base_is_refused_with_any_other_key(key) -> None:
    with pytest.raises(ConfigurationError, match="only with a test-mode key") as refused:
        load_settings(STRIPE, {"STRIPE_SECRET_KEY": key, "STRIPE_API_BASE": "http://127.0.0.1:12111"})
    assert key not in str(refused.value)


@pytest.mark.parametrize(("switch", "value", "named"), [
    ("FIREBASE_AUTH_EMULATOR_HOST", "127.0.0.1:9099", "FIREBASE_AUTH_EMULATOR_HOST"),
    ("AWS_SAM_LOCAL", "true", "AWS_SAM_LOCAL"),
    ("FIREBASE_PROJECT_ID", "demo-billing", "a demo- FIREBASE_PROJECT_ID"),
    ("PORTAL_URL", "http://localhost:3000", "an http PORTAL_URL"),
])
def test_a_function_holding_a_live_key_refuses_to_start_with_any_local_switch(switch, value, named) -> None:
    with pytest.raises(ConfigurationError, match=re.escape(f"live Stripe key together with local-only settings "
                                                           f"({named})")):
        load_settings(STRIPE, {"STRIPE_SECRET_KEY": LIVE_KEY, "STRIPE_MODE": "live", switch: value})
    assert load_settings(STRIPE, {"STRIPE_SECRET_KEY": LIVE_KEY, "STRIPE_MODE": "live"}).stripe_secret_key == LIVE_KEY


def test_a_function_holding_a_live_key_never_starts_with_the_stripe_double_as_api_base(monkeypatch) -> None:
    # The checkout function as loaded from template.yaml, with a live key and the double's base URL set
    code_dir, handler = function_definitions()["CreateCheckoutFunction"]
    monkeypatch.setenv("STRIPE_SECRET_KEY", LIVE_KEY)
    with pytest.raises(ConfigurationError, match="STRIPE_API_BASE") as refused:
        load_handler(code_dir, handler, "CreateCheckoutFunction_live_key")
    assert LIVE_KEY not in str(refused.value)


def test_stripe_log_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="STRIPE_LOG"):
        load_settings(STRIPE, {"STRIPE_SECRET_KEY": TEST_KEY, "STRIPE_LOG": "info"})


def allowed_pattern(parameter: str) -> re.Pattern[str]:
    # CloudFormation matches AllowedPattern with Java regular expressions; these use nothing Python reads otherwise
    return re.compile(template()["Parameters"][parameter]["AllowedPattern"])


@pytest.mark.parametrize(("project", "allowed"), [
    ("client-portal-prod", True), ("demo-billing", False), ("demo-x", False), ("demonstration-1", True),
    ("Client Portal", False),
])
def test_the_template_refuses_a_demo_firebase_project(project, allowed) -> None:
    assert bool(allowed_pattern("FirebaseProjectId").fullmatch(project)) is allowed


@pytest.mark.parametrize(("url", "allowed"), [
    ("https://portal.example.com", True), ("https://portal.example.com:8443", True),
    ("https://portal.example.com@evil.example", False), ("http://portal.example.com", False),
    ("https://portal.example.com/app", False), ("http://localhost:3000", False),
])
def test_the_template_accepts_only_an_https_origin_as_portal_url(url, allowed) -> None:
    assert bool(allowed_pattern("PortalUrl").fullmatch(url)) is allowed
    if allowed:
        assert config_rules.portal_url_problems(url) == []  # never stricter than the functions

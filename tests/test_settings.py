"""Configuration: fail fast on what is missing, secrets from Secrets Manager (moto) when no env value is set."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from billing.errors import ConfigurationError
from billing.settings import Need, load_settings

ALL = frozenset(Need) - {Need.RECONCILIATION}
COMPLETE = {
    "DATABASE_URL": "postgresql+pg8000://u@h/db",
    "FIREBASE_PROJECT_ID": "p",
    "STRIPE_SECRET_KEY": "sk_test_x",
    "STRIPE_WEBHOOK_SECRET": "whsec_test_x",
    "PORTAL_URL": "https://portal.example.test/",
    "STRIPE_MODE": "test",
}


def test_every_missing_setting_is_named_in_one_error() -> None:
    with pytest.raises(ConfigurationError) as raised:
        load_settings(ALL, {})
    message = str(raised.value)
    for name in ("DATABASE_URL", "FIREBASE_PROJECT_ID", "STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET", "PORTAL_URL"):
        assert name in message


def test_a_function_needs_only_its_own_settings() -> None:
    settings = load_settings(frozenset({Need.DATABASE, Need.STRIPE_WEBHOOK}),
                             {"DATABASE_URL": "postgresql+pg8000://u@h/db", "STRIPE_WEBHOOK_SECRET": "whsec_test_x",
                              "STRIPE_MODE": "test"})
    assert settings.stripe_secret_key is None


def test_portal_url_must_be_absolute() -> None:
    with pytest.raises(ConfigurationError, match="PORTAL_URL"):
        load_settings(ALL, {**COMPLETE, "PORTAL_URL": "portal.example.test"})


def test_trailing_slash_of_portal_url_is_dropped() -> None:
    assert load_settings(ALL, COMPLETE).portal_url == "https://portal.example.test"


def test_secrets_never_appear_in_repr() -> None:
    text = repr(load_settings(ALL, COMPLETE))
    assert "sk_test_x" not in text and "whsec_test_x" not in text and "u@h" not in text


def test_emulator_mode_is_refused_on_lambda() -> None:
    env = {**COMPLETE, "FIREBASE_AUTH_EMULATOR_HOST": "127.0.0.1:9099", "AWS_LAMBDA_FUNCTION_NAME": "list"}
    with pytest.raises(ConfigurationError, match="FIREBASE_AUTH_EMULATOR_HOST"):
        load_settings(ALL, env)


def test_emulator_mode_is_allowed_locally_and_under_sam_local() -> None:
    load_settings(ALL, {**COMPLETE, "FIREBASE_AUTH_EMULATOR_HOST": "127.0.0.1:9099"})
    load_settings(ALL, {**COMPLETE, "FIREBASE_AUTH_EMULATOR_HOST": "127.0.0.1:9099",
                        "AWS_LAMBDA_FUNCTION_NAME": "list", "AWS_SAM_LOCAL": "true"})


@pytest.fixture
def secrets_manager(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    from billing import settings as settings_module

    settings_module._fetch_secret.cache_clear()
    with mock_aws():
        yield boto3.client("secretsmanager", region_name="us-east-1")
    settings_module._fetch_secret.cache_clear()


def test_secrets_come_from_secrets_manager(secrets_manager) -> None:
    db_arn = secrets_manager.create_secret(Name="billing/db", SecretString=json.dumps({
        "username": "billing", "password": "p@ss:w/rd", "host": "db.internal", "port": 5433, "dbname": "portal",
        "engine": "postgres"}))["ARN"]
    key_arn = secrets_manager.create_secret(Name="billing/stripe-key", SecretString="sk_test_from_sm")["ARN"]
    hook_arn = secrets_manager.create_secret(Name="billing/stripe-hook", SecretString="whsec_test_from_sm")["ARN"]

    settings = load_settings(ALL, {
        "DATABASE_SECRET_ARN": db_arn, "STRIPE_SECRET_KEY_SECRET_ARN": key_arn,
        "STRIPE_WEBHOOK_SECRET_SECRET_ARN": hook_arn, "FIREBASE_PROJECT_ID": "p", "PORTAL_URL": "https://x.test",
        "STRIPE_MODE": "test",
    })

    assert settings.database_url == "postgresql+pg8000://billing:p%40ss%3Aw%2Frd@db.internal:5433/portal"
    assert settings.stripe_secret_key == "sk_test_from_sm"
    assert settings.stripe_webhook_secret == "whsec_test_from_sm"


def test_an_environment_value_wins_over_the_secret(secrets_manager) -> None:
    arn = secrets_manager.create_secret(Name="billing/stripe-key", SecretString="sk_test_from_sm")["ARN"]
    settings = load_settings(frozenset({Need.STRIPE_API}),
                             {"STRIPE_SECRET_KEY": "sk_test_env", "STRIPE_SECRET_KEY_SECRET_ARN": arn,
                              "STRIPE_MODE": "test"})
    assert settings.stripe_secret_key == "sk_test_env"


def test_each_secret_is_read_once_per_container(secrets_manager) -> None:
    arn = secrets_manager.create_secret(Name="billing/stripe-key", SecretString="sk_test_from_sm")["ARN"]
    env = {"STRIPE_SECRET_KEY_SECRET_ARN": arn, "STRIPE_MODE": "test"}
    load_settings(frozenset({Need.STRIPE_API}), env)
    secrets_manager.put_secret_value(SecretId=arn, SecretString="sk_test_rotated")
    assert load_settings(frozenset({Need.STRIPE_API}), env).stripe_secret_key == "sk_test_from_sm"


def test_an_unreadable_secret_is_a_clear_configuration_error(secrets_manager) -> None:
    missing = "arn:aws:secretsmanager:us-east-1:123456789012:secret:billing/nope-AbCdEf"
    with pytest.raises(ConfigurationError, match="cannot read secret"):
        load_settings(frozenset({Need.STRIPE_API}), {"STRIPE_SECRET_KEY_SECRET_ARN": missing})


def test_reconciliation_window_and_batch_must_be_positive_integers() -> None:
    needs = frozenset({Need.RECONCILIATION})
    with pytest.raises(ConfigurationError, match=r"RECONCILE_AFTER_MINUTES.*RECONCILE_BATCH_SIZE"):
        load_settings(needs, {})
    with pytest.raises(ConfigurationError, match="RECONCILE_BATCH_SIZE"):
        load_settings(needs, {"RECONCILE_AFTER_MINUTES": "30", "RECONCILE_BATCH_SIZE": "-1"})
    settings = load_settings(needs, {"RECONCILE_AFTER_MINUTES": "30", "RECONCILE_BATCH_SIZE": "100"})
    assert (settings.reconcile_after_minutes, settings.reconcile_batch_size) == (30, 100)


def test_a_database_ca_bundle_must_exist(tmp_path) -> None:
    environ = {"DATABASE_URL": "postgresql+pg8000://u@db.example/x", "DATABASE_CA_BUNDLE": str(tmp_path / "nope.pem")}
    with pytest.raises(ConfigurationError, match="DATABASE_CA_BUNDLE"):
        load_settings(frozenset({Need.DATABASE}), environ)


def test_the_stripe_mode_is_required_and_must_be_the_secret_keys() -> None:
    webhook = frozenset({Need.STRIPE_WEBHOOK})
    with pytest.raises(ConfigurationError, match=r"STRIPE_MODE \(must be test or live\)"):
        load_settings(webhook, {"STRIPE_WEBHOOK_SECRET": "whsec_x"})  # a webhook has no key to tell its mode
    assert load_settings(webhook, {"STRIPE_WEBHOOK_SECRET": "whsec_x", "STRIPE_MODE": "live"}).stripe_mode == "live"
    with pytest.raises(ConfigurationError, match=r"STRIPE_MODE \(test, but the Stripe secret key is not a test key\)"):
        load_settings(frozenset({Need.STRIPE_API}), {"STRIPE_SECRET_KEY": "sk_live_x", "STRIPE_MODE": "test"})
    with pytest.raises(ConfigurationError, match=r"STRIPE_MODE \(live, but"):
        load_settings(frozenset({Need.STRIPE_API}), {"STRIPE_SECRET_KEY": "rk_test_x", "STRIPE_MODE": "live"})


def test_the_mismatched_payment_policy_defaults_to_refund_and_is_refund_or_hold() -> None:
    environ = {"STRIPE_WEBHOOK_SECRET": "whsec_x", "STRIPE_MODE": "test"}
    webhook = frozenset({Need.STRIPE_WEBHOOK})
    assert load_settings(webhook, environ).mismatched_payment_policy == "refund"
    assert load_settings(webhook, {**environ, "MISMATCHED_PAYMENT_POLICY": "hold"}).mismatched_payment_policy == "hold"
    with pytest.raises(ConfigurationError, match="MISMATCHED_PAYMENT_POLICY"):
        load_settings(webhook, {**environ, "MISMATCHED_PAYMENT_POLICY": "keep"})

"""Configuration: fail fast on what is missing, secrets from Secrets Manager (moto) when no env value is set, in
both shapes of the database secret, cached with a maximum age."""

from __future__ import annotations

import json
import time

import pytest

from billing.errors import ConfigurationError
from billing.settings import Need, load_settings

ALL = frozenset(Need) - {Need.RECONCILIATION, Need.EVENT_RETENTION, Need.NOTIFICATIONS}
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
    webhooks = {"DATABASE_URL": "postgresql+pg8000://u@h/db", "STRIPE_WEBHOOK_SECRET": "whsec_test_x",
                "STRIPE_MODE": "test"}
    # The webhook's settings are enough for the webhook (no Firebase project, no Stripe key, no portal) ...
    settings = load_settings(frozenset({Need.DATABASE, Need.STRIPE_WEBHOOK}), webhooks)
    assert (settings.database_url, settings.stripe_webhook_secret) == (webhooks["DATABASE_URL"], "whsec_test_x")
    assert (settings.firebase_project_id, settings.stripe_secret_key, settings.portal_url) == (None, None, None)
    # ... and not for a function that also needs Firebase and the Stripe API: exactly what they add is named
    with pytest.raises(ConfigurationError) as refused:
        load_settings(frozenset({Need.DATABASE, Need.STRIPE_WEBHOOK, Need.FIREBASE, Need.STRIPE_API}), webhooks)
    assert refused.value.problems == ["FIREBASE_PROJECT_ID is not set",
                                      "STRIPE_SECRET_KEY (or STRIPE_SECRET_KEY_SECRET_ARN) is not set"]


def test_portal_url_must_be_absolute() -> None:
    with pytest.raises(ConfigurationError, match="PORTAL_URL"):
        load_settings(ALL, {**COMPLETE, "PORTAL_URL": "portal.example.test"})


def test_trailing_slash_of_portal_url_is_dropped() -> None:
    assert load_settings(ALL, COMPLETE).portal_url == "https://portal.example.test"


def test_secrets_never_appear_in_repr() -> None:
    text = repr(load_settings(ALL, COMPLETE))
    assert "sk_test_x" not in text and "whsec_test_x" not in text and "u@h" not in text


@pytest.fixture
def secrets_manager(moto_secrets_manager):
    return moto_secrets_manager


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
    assert settings.database_secret_arn == db_arn  # new connections log in with the secret as it is then
    assert settings.stripe_secret_key == "sk_test_from_sm"
    assert settings.stripe_webhook_secret == "whsec_test_from_sm"


def test_an_rds_master_user_secret_takes_host_port_and_name_from_the_settings(secrets_manager) -> None:
    # RDS manages the master user's secret with these two fields only
    arn = secrets_manager.create_secret(Name="rds!db-1234", SecretString=json.dumps({
        "username": "postgres", "password": "rotated-by-rds"}))["ARN"]
    needs = frozenset({Need.DATABASE})

    with pytest.raises(ConfigurationError, match="DATABASE_HOST"):
        load_settings(needs, {"DATABASE_SECRET_ARN": arn})
    settings = load_settings(needs, {"DATABASE_SECRET_ARN": arn, "DATABASE_HOST": "db.cluster.internal",
                                     "DATABASE_PORT": "6432", "DATABASE_NAME": "portal"})
    assert settings.database_url == "postgresql+pg8000://postgres:rotated-by-rds@db.cluster.internal:6432/portal"
    defaults = load_settings(needs, {"DATABASE_SECRET_ARN": arn, "DATABASE_HOST": "db.cluster.internal"})
    assert defaults.database_url == "postgresql+pg8000://postgres:rotated-by-rds@db.cluster.internal:5432/postgres"


def test_the_host_setting_wins_over_the_secrets_own(secrets_manager) -> None:
    # An RDS Proxy endpoint in front of the instance a hand-made secret names
    arn = secrets_manager.create_secret(Name="billing/db", SecretString=json.dumps({
        "username": "billing", "password": "pw", "host": "instance.internal", "port": 5432, "dbname": "portal"}))["ARN"]
    settings = load_settings(frozenset({Need.DATABASE}),
                             {"DATABASE_SECRET_ARN": arn, "DATABASE_HOST": "proxy.internal"})
    assert settings.database_url == "postgresql+pg8000://billing:pw@proxy.internal:5432/portal"


@pytest.mark.parametrize("secret", ['{"username": "u"}', '["u", "p"]', "not json", '{"username": "", "password": "p"}'])
def test_a_database_secret_without_a_login_is_refused_without_showing_it(secrets_manager, secret) -> None:
    arn = secrets_manager.create_secret(Name="billing/db-bad", SecretString=secret)["ARN"]
    with pytest.raises(ConfigurationError) as refused:
        load_settings(frozenset({Need.DATABASE}), {"DATABASE_SECRET_ARN": arn, "DATABASE_HOST": "h"})
    assert "database secret" in str(refused.value) and '"u"' not in str(refused.value)


def test_an_environment_value_wins_over_the_secret(secrets_manager) -> None:
    arn = secrets_manager.create_secret(Name="billing/stripe-key", SecretString="sk_test_from_sm")["ARN"]
    settings = load_settings(frozenset({Need.STRIPE_API}),
                             {"STRIPE_SECRET_KEY": "sk_test_env", "STRIPE_SECRET_KEY_SECRET_ARN": arn,
                              "STRIPE_MODE": "test"})
    assert settings.stripe_secret_key == "sk_test_env"


def test_a_secret_is_cached_up_to_its_maximum_age_then_read_again(secrets_manager, monkeypatch) -> None:
    from billing import secret_store

    monkeypatch.setattr(secret_store, "MAX_AGE_SECONDS", 1)  # 300 in production: a test does not wait that long
    arn = secrets_manager.create_secret(Name="billing/stripe-key", SecretString="sk_test_from_sm")["ARN"]
    env = {"STRIPE_SECRET_KEY_SECRET_ARN": arn, "STRIPE_MODE": "test"}
    load_settings(frozenset({Need.STRIPE_API}), env)
    secrets_manager.put_secret_value(SecretId=arn, SecretString="sk_test_rotated")
    assert load_settings(frozenset({Need.STRIPE_API}), env).stripe_secret_key == "sk_test_from_sm"  # cached

    time.sleep(1.1)
    assert load_settings(frozenset({Need.STRIPE_API}), env).stripe_secret_key == "sk_test_rotated"


def test_an_unreadable_secret_is_a_clear_configuration_error(secrets_manager) -> None:
    missing = "arn:aws:secretsmanager:us-east-1:123456789012:secret:billing/nope-AbCdEf"
    with pytest.raises(ConfigurationError, match="cannot read secret"):
        load_settings(frozenset({Need.STRIPE_API}), {"STRIPE_SECRET_KEY_SECRET_ARN": missing})


def test_a_firebase_service_account_secret_must_hold_a_key(secrets_manager) -> None:
    arn = secrets_manager.create_secret(Name="billing/firebase", SecretString='{"type": "authorized_user"}')["ARN"]
    with pytest.raises(ConfigurationError, match="no service account key"):
        load_settings(frozenset({Need.FIREBASE}),
                      {"FIREBASE_PROJECT_ID": "p", "FIREBASE_SERVICE_ACCOUNT_SECRET_ARN": arn})


def test_the_event_retention_must_outlast_stripes_redeliveries() -> None:
    needs = frozenset({Need.EVENT_RETENTION})
    with pytest.raises(ConfigurationError, match="RETENTION_DAYS must be a positive integer of at least 30"):
        load_settings(needs, {"STRIPE_EVENT_RETENTION_DAYS": "7"})
    assert load_settings(needs, {"STRIPE_EVENT_RETENTION_DAYS": "30"}).event_retention_days == 30


def test_notifications_are_kept_30_days_by_default_and_at_least_a_week() -> None:
    needs, base = frozenset({Need.EVENT_RETENTION}), {"STRIPE_EVENT_RETENTION_DAYS": "90"}
    assert load_settings(needs, base).notification_retention_days == 30
    assert load_settings(needs, {**base, "NOTIFICATION_RETENTION_DAYS": "14"}).notification_retention_days == 14
    with pytest.raises(ConfigurationError, match=r"NOTIFICATION_RETENTION_DAYS must be .* at least 7"):
        load_settings(needs, {**base, "NOTIFICATION_RETENTION_DAYS": "6"})


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
    with pytest.raises(ConfigurationError, match="STRIPE_MODE is not set"):
        load_settings(webhook, {"STRIPE_WEBHOOK_SECRET": "whsec_x"})  # a webhook has no key to tell its mode
    with pytest.raises(ConfigurationError, match="STRIPE_MODE must be test or live"):
        load_settings(webhook, {"STRIPE_WEBHOOK_SECRET": "whsec_x", "STRIPE_MODE": "production"})
    assert load_settings(webhook, {"STRIPE_WEBHOOK_SECRET": "whsec_x", "STRIPE_MODE": "live"}).stripe_mode == "live"
    with pytest.raises(ConfigurationError, match="STRIPE_MODE is test but the Stripe secret key is not a test-mode"):
        load_settings(frozenset({Need.STRIPE_API}), {"STRIPE_SECRET_KEY": "sk_live_x", "STRIPE_MODE": "test"})
    with pytest.raises(ConfigurationError, match="STRIPE_MODE is live but"):
        load_settings(frozenset({Need.STRIPE_API}), {"STRIPE_SECRET_KEY": "rk_test_x", "STRIPE_MODE": "live"})


def test_the_mismatched_payment_policy_defaults_to_refund_and_is_refund_or_hold() -> None:
    environ = {"STRIPE_WEBHOOK_SECRET": "whsec_x", "STRIPE_MODE": "test"}
    webhook = frozenset({Need.STRIPE_WEBHOOK})
    assert load_settings(webhook, environ).mismatched_payment_policy == "refund"
    assert load_settings(webhook, {**environ, "MISMATCHED_PAYMENT_POLICY": "hold"}).mismatched_payment_policy == "hold"
    with pytest.raises(ConfigurationError, match="MISMATCHED_PAYMENT_POLICY"):
        load_settings(webhook, {**environ, "MISMATCHED_PAYMENT_POLICY": "keep"})


NOTIFIER = {"EMAIL_FROM_ADDRESS": "billing@client-portal.io", "NOTIFICATION_MAX_ATTEMPTS": "6",
            "NOTIFICATION_BATCH_SIZE": "50"}


def test_the_notifier_captures_mail_only_for_a_sender_at_a_domain_reserved_for_tests() -> None:
    # A deployment with a real sender cannot have its mail vanish into a directory
    with pytest.raises(ConfigurationError, match="EMAIL_CAPTURE_DIR keeps email from being sent"):
        load_settings(frozenset({Need.NOTIFICATIONS}), {**NOTIFIER, "EMAIL_CAPTURE_DIR": "/tmp/mail"})
    for sender in ("billing@portal.localhost", "billing@portal.test", "billing@example.com"):
        loaded = load_settings(frozenset({Need.NOTIFICATIONS}),
                               {**NOTIFIER, "EMAIL_FROM_ADDRESS": sender, "EMAIL_CAPTURE_DIR": "/tmp/mail"})
        assert loaded.email_capture_dir == "/tmp/mail"
    for lookalike in ("billing@example.com.evil.io", "billing@mytest", "billing@notexample.com"):
        with pytest.raises(ConfigurationError):
            load_settings(frozenset({Need.NOTIFICATIONS}),
                          {**NOTIFIER, "EMAIL_FROM_ADDRESS": lookalike, "EMAIL_CAPTURE_DIR": "/tmp/mail"})

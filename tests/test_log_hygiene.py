"""No secret and no payer's email reaches a log line: ID tokens (or their signature), the Stripe secret key, the
webhook secret, Stripe-Signature values, Checkout client secrets, emails — on success and on every failure path,
with every logger at DEBUG.

Everything a function could log is captured: our Powertools logger rendered with its own JSON formatter (extra
keys and tracebacks included), every other library's records through the root logger at DEBUG (as Lambda ships
them when the function's ApplicationLogLevel is DEBUG), and whatever reaches stdout/stderr.
"""

from __future__ import annotations

import io
import json
import logging
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from billing.observability import QUIET_LIBRARY_LOGGERS
from google_double.accounts import GoogleAccounts
from stripe_double.events import event_payload, sign_payload
from tests.conftest import PROJECT_ID, STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET
from tests.support.container import new_container


@dataclass
class Secrets:
    """Every secret value a scenario put on the wire."""

    values: set[str] = field(default_factory=lambda: {STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET})

    def token(self, token: str) -> str:
        self.values.update({token, token.rsplit(".", 1)[-1]})  # the whole token and its signature part
        return token

    def signature(self, header: str) -> str:
        self.values.add(header)
        self.values.update(part.split("=", 1)[1] for part in header.split(",") if part.startswith("v1="))
        return header


@pytest.fixture
def captured_logs(caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]) -> Iterator[Callable[[], str]]:
    from billing.observability import logger

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logger.registered_formatter)
    billing_logger = logger._logger
    level = billing_logger.level
    billing_logger.addHandler(handler)
    billing_logger.setLevel(logging.DEBUG)
    caplog.set_level(logging.DEBUG)  # the root logger, as Lambda sets it for ApplicationLogLevel DEBUG

    def collect() -> str:
        out, err = capfd.readouterr()
        formatter = logging.Formatter()
        # the setup phase too: a cold start made in a fixture (secrets read from Secrets Manager) is part of the run
        records = [f"{formatter.format(r)} {r.__dict__!r}" for r in caplog.get_records("setup") + caplog.records]
        return "\n".join([stream.getvalue(), *records, out, err])

    yield collect
    billing_logger.removeHandler(handler)
    billing_logger.setLevel(level)


@pytest.fixture
def invoice_update_fault(db_engine: Engine) -> Iterator[None]:
    """Every UPDATE of "Invoice" fails (a database error inside fulfillment: logged with its traceback)."""
    with db_engine.begin() as conn:
        conn.execute(text("""CREATE FUNCTION _log_test_fault() RETURNS trigger AS $$ BEGIN
            RAISE EXCEPTION 'injected fault'; END $$ LANGUAGE plpgsql"""))
        conn.execute(text('CREATE TRIGGER log_test_fault BEFORE UPDATE ON "Invoice" FOR EACH ROW '
                          "EXECUTE FUNCTION _log_test_fault()"))
    yield
    with db_engine.begin() as conn:
        conn.execute(text('DROP TRIGGER log_test_fault ON "Invoice"'))
        conn.execute(text("DROP FUNCTION _log_test_fault()"))


@pytest.fixture
def scene(world, api, token_issuer, stripe_double):
    @dataclass
    class Scene:
        secrets: Secrets
        alice: object
        invoice_id: str

        def checkout(self, token: str | None = None):
            return api.checkout(self.alice, self.invoice_id, token=self.secrets.token(token or api.token(self.alice)))

        def verify(self, session_id: str, token: str | None = None):
            return api.verify(self.alice, self.invoice_id, session_id,
                              token=self.secrets.token(token or api.token(self.alice)))

        def deliver(self, event: dict, secret: str = STRIPE_WEBHOOK_SECRET, timestamp: int | None = None):
            payload = event_payload(event)
            signature = self.secrets.signature(sign_payload(payload, secret, timestamp))
            return api.deliver_raw(payload, signature)

    acme = world.company()
    alice = world.contact(acme)
    return Scene(Secrets(), alice, world.invoice(acme, "500.00"))


def list_ok(scene, api, stripe, issuer):
    assert api.list_invoices(scene.alice, token=scene.secrets.token(api.token(scene.alice)))[0] == 200


def list_with_bad_tokens(scene, api, stripe, issuer):
    for kind in ("expired_token", "foreign_key_token", "unsigned_token", "hs256_with_certificate_token",
                 "wrong_project_token"):
        token = scene.secrets.token(getattr(issuer, kind)(scene.alice.uid))
        assert api.list_invoices(scene.alice, token=token)[0] == 401


def checkout_created_and_reused(scene, api, stripe, issuer):
    assert scene.checkout()[0] == 200
    assert scene.checkout()[0] == 200  # the reuse path reads the session back from Stripe


def checkout_with_stripe_down(scene, api, stripe, issuer):
    stripe.fail_next(10, status=503)
    assert scene.checkout()[0] == 502


def checkout_declined_by_stripe(scene, api, stripe, issuer):
    stripe.fail_next(1, status=402)
    assert scene.checkout()[0] == 502


def verify_paid_and_stripe_down(scene, api, stripe, issuer):
    _, created = scene.checkout()
    stripe.complete_session(created["sessionId"])
    stripe.fail_next(3, status=500)
    assert scene.verify(created["sessionId"])[0] == 502
    assert scene.verify(created["sessionId"])[1]["status"] == "paid"


def webhook_paid_and_duplicate(scene, api, stripe, issuer):
    _, created = scene.checkout()
    (completed,) = stripe.complete_session(created["sessionId"])
    assert scene.deliver(completed)[0] == 200
    assert scene.deliver(completed)[1]["duplicate"] is True


def webhook_with_bad_signatures(scene, api, stripe, issuer):
    _, created = scene.checkout()
    (completed,) = stripe.complete_session(created["sessionId"])
    assert scene.deliver(completed, secret="whsec_attacker_guess")[0] == 400
    assert scene.deliver(completed, timestamp=1_600_000_000)[0] == 400
    assert api.deliver_raw(event_payload(completed), None)[0] == 400


def reconciliation_of_an_open_session(scene, api, stripe, issuer, db):
    scene.checkout()
    db('UPDATE "Invoice" SET "updatedAt" = now() - interval \'1 hour\'')
    assert api.functions.reconcile({}, None)["examined"] == 1


SCENARIOS = [list_ok, list_with_bad_tokens, checkout_created_and_reused, checkout_with_stripe_down,
             checkout_declined_by_stripe, verify_paid_and_stripe_down, webhook_paid_and_duplicate,
             webhook_with_bad_signatures]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.__name__)
def test_no_secret_in_any_log_line(scenario, scene, api, stripe_double, token_issuer, captured_logs) -> None:
    scenario(scene, api, stripe_double, token_issuer)

    logs = captured_logs()
    if scenario is not list_ok:  # a success of the list route logs nothing; every other scenario does
        assert logs.strip(), "nothing captured: the capture would be broken, not the logs clean"
    assert_no_secret(logs, scene.secrets, stripe_double)


def test_no_secret_in_the_traceback_of_a_database_fault(scene, stripe_double, captured_logs, request) -> None:
    _, created = scene.checkout()
    (completed,) = stripe_double.complete_session(created["sessionId"])
    request.getfixturevalue("invoice_update_fault")  # from here on, fulfillment's UPDATE fails

    assert scene.deliver(completed)[0] == 503

    logs = captured_logs()
    assert "injected fault" in logs  # the traceback was logged (and is what is searched)
    assert_no_secret(logs, scene.secrets, stripe_double)


def test_no_secret_in_reconciliation_logs(scene, api, stripe_double, token_issuer, captured_logs, db) -> None:
    reconciliation_of_an_open_session(scene, api, stripe_double, token_issuer, db)

    assert_no_secret(captured_logs(), scene.secrets, stripe_double)


def assert_no_secret(logs: str, secrets: Secrets, stripe_double) -> None:
    client_secrets = {s["client_secret"] for s in stripe_double.sessions.values() if s.get("client_secret")}
    client_secrets |= {p["client_secret"] for p in stripe_double.payment_intents.values() if p.get("client_secret")}
    leaked = sorted(secret[:12] + "..." for secret in secrets.values | client_secrets if secret and secret in logs)
    assert not leaked, f"secrets in the logs: {leaked}"


def test_the_capture_would_see_a_leak(scene, stripe_double, captured_logs) -> None:
    """The detector itself: a secret logged as an extra key, in a traceback, or by a library is found."""
    from billing.observability import logger

    token = scene.secrets.token("header.payload.signature-part-only")
    logger.info("leak", extra={"detail": {"nested": "signature-part-only"}})
    try:
        raise ValueError(f"boom {STRIPE_WEBHOOK_SECRET}")
    except ValueError:
        logger.exception("failed")
    logging.getLogger("some.library").info("key=%s", STRIPE_SECRET_KEY)

    with pytest.raises(AssertionError) as leaked:
        assert_no_secret(captured_logs(), scene.secrets, stripe_double)
    for secret in ("signature-pa", STRIPE_WEBHOOK_SECRET[:12], STRIPE_SECRET_KEY[:12]):
        assert secret in str(leaked.value)
    assert token


# ----- The whole flow at DEBUG, secrets from Secrets Manager -------------------------------------------------------


@pytest.fixture
def quiet_loggers_off() -> Iterator[None]:
    levels = {name: logging.getLogger(name).level for name in QUIET_LIBRARY_LOGGERS}
    for name in QUIET_LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET)
    yield
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


PAYER_NAME = "Payer Name-Sentinel"  # the name typed at Checkout, recorded for staff's who-paid


@dataclass
class DebugRun:
    """What one run of the whole flow put on the wire or in the database that must never be logged."""

    secrets: Secrets
    emails: set[str]


@pytest.fixture
def aws_configured(moto_secrets_manager, google_endpoint, database_url):
    """The functions configured as on AWS: the database login, the Stripe key, the webhook signing secrets and a
    Firebase service account all read from Secrets Manager (so botocore has them in its responses), and Google
    answering the revocation lookups (so google-auth has an access token)."""
    url = make_url(database_url)
    database_password = "db-password-" + uuid.uuid4().hex  # the test server trusts local logins: any password
    stripe_key = "sk_test_debug_run_" + uuid.uuid4().hex
    google = GoogleAccounts(PROJECT_ID)
    service_account = google.service_account_key()
    google.serve(google_endpoint)

    def secret(name: str, value: str) -> str:
        return moto_secrets_manager.create_secret(Name=f"billing/{name}", SecretString=value)["ARN"]

    environment = {
        "DATABASE_URL": None, "STRIPE_SECRET_KEY": None, "STRIPE_WEBHOOK_SECRET": None,
        "DATABASE_SECRET_ARN": secret("db", json.dumps({
            "username": url.username, "password": database_password, "host": url.host, "port": url.port,
            "dbname": url.database})),
        "STRIPE_SECRET_KEY_SECRET_ARN": secret("stripe-key", stripe_key),
        "STRIPE_WEBHOOK_SECRET_SECRET_ARN": secret("stripe-webhook", f"whsec_test_next_one,{STRIPE_WEBHOOK_SECRET}"),
        "FIREBASE_SERVICE_ACCOUNT_SECRET_ARN": secret("firebase", service_account),
        "LOG_LEVEL": "DEBUG",
    }
    private_key_body = json.loads(service_account)["private_key"].splitlines()[5]
    values = {database_password, stripe_key, "whsec_test_next_one", private_key_body}
    with new_container(**environment):
        yield google, values
    google.stop_serving(google_endpoint)


def run_the_whole_flow(world, api, stripe_double, token_issuer, google, values: set[str]) -> DebugRun:
    """Every function, on success and on the refusals an attacker or a misconfiguration causes."""
    run = DebugRun(Secrets(values=set(values) | {STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET}), set())
    acme = world.company()
    alice = world.contact(acme, email=f"alice.{uuid.uuid4().hex[:6]}@payer.example")
    invoice_id = world.invoice(acme, "500.00")
    google.add_user(alice.uid)
    token = run.secrets.token(api.token(alice))

    assert api.list_invoices(alice, token=token)[0] == 200
    assert api.list_invoices(alice, token=run.secrets.token(token_issuer.foreign_key_token(alice.uid)))[0] == 401
    status, created = api.checkout(alice, invoice_id, token=token)  # a Stripe customer with the payer's email
    assert status == 200
    assert api.verify(alice, invoice_id, created["sessionId"], token=token)[1]["success"] is False
    (completed,) = stripe_double.complete_session(created["sessionId"], payer_name=PAYER_NAME)  # name, email
    (charge_succeeded,) = [e for e in stripe_double.events if e["type"] == "charge.succeeded"]
    assert api.deliver(charge_succeeded)[1]["outcome"] == "payment_method_recorded"  # the payer's name recorded
    payload = event_payload(completed)
    assert api.deliver_raw(payload, run.secrets.signature(sign_payload(payload, "whsec_test_next_one")))[0] == 200
    assert api.deliver_raw(payload, run.secrets.signature(sign_payload(payload, "whsec_attacker")))[0] == 400
    assert api.verify(alice, invoice_id, created["sessionId"], token=token)[1]["success"] is True
    assert "examined" in api.functions.reconcile({}, None)
    assert "deleted" in api.functions.stripe_event_retention({}, None)
    run.emails = _payer_emails(stripe_double)
    return run


def _payer_emails(stripe_double) -> set[str]:
    emails = {c.get("email") for c in stripe_double.customers.values()}
    emails |= {(s.get("customer_details") or {}).get("email") for s in stripe_double.sessions.values()}
    return {e for e in emails if isinstance(e, str)}


def test_a_debug_level_run_of_the_whole_flow_logs_no_token_key_client_secret_or_email(
    captured_logs, aws_configured, world, api, stripe_double, token_issuer, db
) -> None:  # captured_logs first: the capture starts before the cold start, which reads the secrets
    google, values = aws_configured
    assert logging.getLogger().getEffectiveLevel() == logging.DEBUG  # Lambda's ApplicationLogLevel DEBUG

    run = run_the_whole_flow(world, api, stripe_double, token_issuer, google, values)

    logs = captured_logs()
    assert run.emails and db('SELECT email FROM "Contact"')[0]["email"] in run.emails  # the payer's, at Stripe too
    assert "stripe event processed" in logs and "reconciliation finished" in logs  # our own lines were captured
    assert_no_secret(logs, run.secrets, stripe_double)
    leaked_emails = sorted(email for email in run.emails if email in logs)
    assert not leaked_emails, f"emails in the logs: {leaked_emails}"
    assert db('SELECT "payerName" FROM "PaymentRecord"') == [{"payerName": PAYER_NAME}]
    assert PAYER_NAME not in logs, "the payer's name in the logs"
    assert not re.search(r"ya29\.test-", logs), "a Google access token in the logs"


def test_the_same_run_with_the_libraries_at_debug_would_leak(captured_logs, quiet_loggers_off, aws_configured,
                                                             world, api, stripe_double, token_issuer) -> None:
    """The check above can fail: with the library loggers left at the root's level, the Stripe SDK's request and
    response bodies (client secrets, emails) and botocore's Secrets Manager responses reach the logs."""
    google, values = aws_configured
    run = run_the_whole_flow(world, api, stripe_double, token_issuer, google, values)

    logs = captured_logs()
    with pytest.raises(AssertionError, match="secrets in the logs") as leaked:
        assert_no_secret(logs, run.secrets, stripe_double)
    print("leaked with the libraries at DEBUG:", leaked.value)
    assert any(email in logs for email in run.emails)

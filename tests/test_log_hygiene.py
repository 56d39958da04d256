"""No secret reaches a log line: ID tokens (or their signature), the Stripe secret key, the webhook secret,
Stripe-Signature values, Checkout client secrets — on success and on every failure path.

Everything a function could log is captured: our Powertools logger rendered with its own JSON formatter (extra
keys and tracebacks included, at DEBUG for this test), every other library's records at INFO through the root
logger (as Lambda would ship them), and whatever reaches stdout/stderr.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
from sqlalchemy import Engine, text

from tests.conftest import STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET
from tests.doubles.stripe_double import event_payload, sign_payload


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
    caplog.set_level(logging.INFO)

    def collect() -> str:
        out, err = capfd.readouterr()
        formatter = logging.Formatter()
        records = [f"{formatter.format(r)} {r.__dict__!r}" for r in caplog.records]
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

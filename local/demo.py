"""`make demo`: the seed guide's usage flow, over real HTTP against the running local stack (`make dev`), step by
step. Exits non-zero if any step does not end as the guide says.

It pays invoices of its own: copies of Acme's INV-DEMO-001 to 003 made for this run (INV-DEMO-001-<run> ...),
removed at the end with everything recorded about them, and it puts the Stripe double's webhook switches back
as it found them. The seeded invoices, and whatever was done with them, are left alone: the banner's curls
work the same after the demo, and the demo runs any number of times.

1. Alice lists her company's invoices.
2. She pays the copy of INV-DEMO-001 with 4242 4242 4242 4242; the webhook arrives; it is paid by her.
3. Webhook delivery switched off: Bob pays the copy of INV-DEMO-002 (JPY); verify (the fallback) marks it paid.
4. A declined card (4000 0000 0000 0002) leaves the copy of INV-DEMO-003 payable.
5. A bank debit of it that fails: processing, then failed, then payable again.
6. Carol, of another company, neither sees nor can pay Acme's invoices.
7. The emails: the notifier, run now as its schedule would, captures a receipt for Alice's and Bob's payments and
   a "payment failed" for the bank debit (files in .local/emails), one each, with the right amounts.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import secrets
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import Engine, select

from billing.db import create_database_engine
from billing.money import format_amount
from billing.schema import notification
from local.http_json import request_json
from local.seed import INVOICES, SeedContact, SeedInvoice, delete_invoices, find_contact, insert_invoices
from local.stack import STATE_DIR, Stack, StackNotRunning, load_stack
from local.token import emulator_id_token

Json = Any
DECLINED_CARD = "4000 0000 0000 0002"
SUCCEEDING_CARD = "4242 4242 4242 4242"
FAILING_BANK_ACCOUNT = "000222222227"


class StepFailed(Exception):
    pass


def invoices_for_run(run: str) -> dict[str, SeedInvoice]:
    """Copies of Acme's three payable seeded invoices, by the seeded id they copy."""
    return {item.id: dataclasses.replace(item, id=f"{item.id}_{run}", number=f"{item.number}-{run}", checkout_by=None)
            for item in INVOICES if item.id in ("inv_demo_usd", "inv_demo_jpy", "inv_demo_launch")}


class Demo:
    def __init__(self, stack: Stack, invoices: dict[str, SeedInvoice], engine: Engine, out: TextIO = sys.stdout,
                 wait_seconds: float = 30.0) -> None:
        self.stack = stack
        self.engine = engine
        self.invoices = invoices
        self.out = out
        self.wait_seconds = wait_seconds
        self.failures: list[str] = []

    # ----- plumbing -----------------------------------------------------------------------------------------

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    @contextmanager
    def step(self, title: str) -> Iterator[None]:
        self.say(f"\n== {title}")
        try:
            yield
        except StepFailed as failure:
            self.failures.append(f"{title}: {failure}")
            self.say(f"   FAIL {failure}")

    def check(self, condition: bool, expectation: str, actual: Any = None) -> None:
        if not condition:
            raise StepFailed(f"expected {expectation}" + (f", got {actual!r}" if actual is not None else ""))
        self.say(f"   ok   {expectation}")

    def http(self, method: str, url: str, body: Json = None, headers: dict[str, str] | None = None) -> tuple[int, Json]:
        try:
            return request_json(method, url, body, headers)
        except OSError as error:  # urllib's URLError included
            raise StepFailed(f"{method} {url}: {error}") from None

    def api(self, method: str, path: str, contact: SeedContact) -> tuple[int, Json]:
        token = emulator_id_token(self.stack.environment["FIREBASE_PROJECT_ID"], contact.firebase_uid, contact.email)
        status, body = self.http(method, self.stack.api_url + path, {} if method == "POST" else None,
                                 {"authorization": f"Bearer {token}"})
        self.say(f"   {method} {path} ({contact.name}) -> {status} {_shown(body)}")
        return status, body

    def stripe(self, method: str, path: str, body: Json = None) -> tuple[int, Json]:
        status, answer = self.http(method, self.stack.stripe_url + path, body)
        if path.startswith("/local/checkout"):
            self.say(f"   stripe {method} {path.split('/sessions/')[-1][:16]}... {json.dumps(body) if body else ''}"
                     f" -> {status} {_shown(answer)}")
        return status, answer

    def wait_for(self, description: str, probe: Callable[[], Any]) -> Any:
        """Poll `probe` until it returns something truthy (webhooks and bank debits arrive later)."""
        deadline = time.monotonic() + self.wait_seconds
        while time.monotonic() < deadline:
            found = probe()
            if found:
                return found
            time.sleep(0.1)
        raise StepFailed(f"{description} within {self.wait_seconds:.0f} s")

    def invoice(self, contact: SeedContact, invoice_id: str) -> Json:
        token = emulator_id_token(self.stack.environment["FIREBASE_PROJECT_ID"], contact.firebase_uid, contact.email)
        status, body = self.http("GET", self.stack.api_url + "/api/client/billing", None,
                                 {"authorization": f"Bearer {token}"})
        if status != 200:
            raise StepFailed(f"listing invoices answered {status} {body}")
        return next((i for i in body["invoices"] if i["id"] == invoice_id), None)

    def delivery(self, session_id: str, event_type: str) -> Json:
        _, answer = self.http("GET", self.stack.stripe_url + "/local/webhooks/deliveries")
        return next((d for d in reversed(answer["deliveries"])
                     if d["object_id"] == session_id and d["event_type"] == event_type), None)

    def checkout(self, contact: SeedContact, invoice_id: str) -> str:
        status, body = self.api("POST", f"/api/client/billing/{invoice_id}/checkout", contact)
        self.check(status == 200 and body.get("clientSecret") and body.get("sessionId", "").startswith("cs_test_"),
                   "200 with the embedded Checkout clientSecret and the sessionId", (status, _shown(body)))
        return str(body["sessionId"])

    # ----- the flow ------------------------------------------------------------------------------------------

    def run(self) -> int:
        alice, bob, carol = find_contact("alice"), find_contact("bob"), find_contact("carol")
        usd, jpy, launch = (self.invoices[copied].id for copied in ("inv_demo_usd", "inv_demo_jpy", "inv_demo_launch"))
        _, found = self.http("GET", self.stack.stripe_url + "/local/webhooks")
        switches = {name: found[name] for name in ("enabled", "duplicates", "out_of_order")}
        self.stripe("POST", "/local/webhooks", {"enabled": True, "duplicates": 0, "out_of_order": False})
        try:
            self.list_invoices(alice)
            self.pay_with_card_and_webhook(alice, usd)
            self.pay_with_webhooks_off_and_verify(bob, jpy)
            self.declined_card(alice, launch)
            self.failed_bank_debit(alice, launch)
            self.other_company(carol, launch)
            self.emails({usd: ("payment_succeeded", alice), jpy: ("payment_succeeded", bob),
                         launch: ("payment_failed", alice)})
        finally:
            self.stripe("POST", "/local/webhooks", switches)
        self.say("")
        for failure in self.failures:
            self.say(f"FAIL {failure}")
        self.say("demo FAILED" if self.failures else "demo OK: every step ended as the seed guide says")
        return 1 if self.failures else 0

    def list_invoices(self, alice: SeedContact) -> None:
        with self.step("1. Alice lists her company's invoices (GET /api/client/billing)"):
            status, body = self.api("GET", "/api/client/billing", alice)
            self.check(status == 200, "200", status)
            for item in body["invoices"]:
                paid = f" by {item['paidByContactId']}" if item["paidByContactId"] else ""
                self.say(f"        {item['invoiceNumber']:<20} {item['amount']:>10} {item['currency']}  "
                         f"due {item['dueDate'][:10]}  {item['status']}{paid}")
            listed = [i["id"] for i in body["invoices"]]
            ours = [i.id for i in self.invoices.values()]
            self.check(set(ours) <= set(listed), "this run's invoices are listed", listed)
            others = [i.id for i in INVOICES if i.proposal_id != "pr_demo_1"]
            self.check(not set(others) & set(listed), "no other company's invoice is", listed)
            dues = [i["dueDate"] or "9999" for i in body["invoices"]]
            self.check(dues == sorted(dues), "earliest due first", dues)

    def pay_with_card_and_webhook(self, alice: SeedContact, invoice_id: str) -> None:
        with self.step(f"2. Alice pays {invoice_id} with {SUCCEEDING_CARD}; the webhook marks it paid"):
            session_id = self.checkout(alice, invoice_id)
            status, paid = self.stripe("POST", f"/local/checkout/sessions/{session_id}/pay", {"card": SUCCEEDING_CARD})
            self.check(status == 200 and paid["payment_status"] == "paid", "the card payment succeeds", (status, paid))
            delivery = self.wait_for("checkout.session.completed delivered", lambda: (
                (d := self.delivery(session_id, "checkout.session.completed")) and d["state"] == "delivered" and d))
            self.check(True, f"webhook {delivery['event_id']} checkout.session.completed answered "
                             f"{delivery['responses'][-1]}")
            invoice = self.invoice(alice, invoice_id)
            self.say(f"   list: {invoice_id} is {invoice['status']}, paidByContactId {invoice['paidByContactId']}, "
                     f"paidAt {invoice['paidAt']}")
            self.check((invoice["status"], invoice["paidByContactId"]) == ("paid", alice.id) and invoice["paidAt"],
                       f"the list shows {invoice_id} paid by {alice.id}", invoice)

    def pay_with_webhooks_off_and_verify(self, bob: SeedContact, invoice_id: str) -> None:
        with self.step(f"3. Webhooks switched off: Bob pays {invoice_id}; verify (the fallback) marks it paid"):
            self.stripe("POST", "/local/webhooks", {"enabled": False})
            self.say("   stripe webhook delivery: off")
            try:
                session_id = self.checkout(bob, invoice_id)
                status, _ = self.stripe("POST", f"/local/checkout/sessions/{session_id}/pay",
                                        {"card": SUCCEEDING_CARD})
                self.check(status == 200, "the card payment succeeds", status)
                skipped = self.delivery(session_id, "checkout.session.completed")
                self.check(bool(skipped) and skipped["state"] == "skipped", "the webhook was not sent", skipped)
                self.check(self.invoice(bob, invoice_id)["status"] == "pending", "the list still shows it pending")
                status, body = self.api("GET", f"/api/client/billing/{invoice_id}/verify/{session_id}", bob)
                amount = int(self.invoices["inv_demo_jpy"].amount)  # JPY: whole yen
                expected = {"success": True, "status": "paid", "contactId": bob.id, "amount": amount}
                self.check((status, body) == (200, expected), f"verify answers 200 {json.dumps(expected)}",
                           (status, body))
                invoice = self.invoice(bob, invoice_id)
                self.check((invoice["status"], invoice["paidByContactId"]) == ("paid", bob.id),
                           f"the list shows {invoice_id} paid by {bob.id}", invoice)
            finally:
                self.stripe("POST", "/local/webhooks", {"enabled": True})
                self.say("   stripe webhook delivery: on")
            # The event Stripe could not deliver, sent late: recorded, and the invoice is paid once only.
            self.stripe("POST", f"/local/webhooks/deliveries/{skipped['event_id']}/resend")
            self.wait_for("the late webhook delivered", lambda: (
                (d := self.delivery(session_id, "checkout.session.completed")) and d["state"] == "delivered"))
            later = self.invoice(bob, invoice_id)
            self.check(later["paidAt"] == invoice["paidAt"], "the late webhook leaves paidAt unchanged",
                       later["paidAt"])

    def declined_card(self, alice: SeedContact, invoice_id: str) -> None:
        with self.step(f"4. A declined card ({DECLINED_CARD}) leaves {invoice_id} payable"):
            session_id = self.checkout(alice, invoice_id)
            status, answer = self.stripe("POST", f"/local/checkout/sessions/{session_id}/pay", {"card": DECLINED_CARD})
            self.check(status == 402 and answer["error"]["code"] == "card_declined", "402 card_declined",
                       (status, answer))
            _, session = self.stripe("GET", f"/local/checkout/sessions/{session_id}")
            self.check(session["status"] == "open", "the Checkout Session stays open", session["status"])
            self.check(self.invoice(alice, invoice_id)["status"] == "pending", f"{invoice_id} is still pending")

    def failed_bank_debit(self, alice: SeedContact, invoice_id: str) -> None:
        with self.step(f"5. A bank debit of {invoice_id} that fails: processing, then failed, then payable again"):
            session_id = self.checkout(alice, invoice_id)
            status, answer = self.stripe("POST", f"/local/checkout/sessions/{session_id}/pay",
                                         {"bank_account": FAILING_BANK_ACCOUNT})
            self.check(status == 200 and (answer["status"], answer["payment_status"]) == ("complete", "unpaid"),
                       "the session completes unpaid: the debit is in flight", (status, answer))
            completed = self.wait_for("checkout.session.completed delivered", lambda: (
                (d := self.delivery(session_id, "checkout.session.completed")) and d["state"] == "delivered" and d))
            outcome = json.loads(completed["last_response_body"] or "{}").get("outcome")
            self.check(outcome == "processing",
                       f"webhook checkout.session.completed (unpaid) answered 200, {invoice_id} processing", outcome)
            self.say("   waiting for the bank to answer the debit ...")
            self.wait_for(f"{invoice_id} failed", lambda: self.invoice(alice, invoice_id)["status"] == "failed")
            failed = self.delivery(session_id, "checkout.session.async_payment_failed")
            self.check(bool(failed) and failed["state"] == "delivered",
                       "webhook checkout.session.async_payment_failed delivered; the invoice is failed", failed)
            retry = self.checkout(alice, invoice_id)
            self.check(retry != session_id, "a new checkout makes a new session: the invoice is payable again")

    def other_company(self, carol: SeedContact, acme_invoice_id: str) -> None:
        with self.step("6. Carol (Globex) sees only Globex's invoices and cannot pay Acme's"):
            status, body = self.api("GET", "/api/client/billing", carol)
            ids = [i["id"] for i in body.get("invoices", [])]
            acme = [i.id for i in INVOICES if i.proposal_id == "pr_demo_1"] + [i.id for i in self.invoices.values()]
            self.check(status == 200 and bool(ids) and not set(ids) & set(acme),
                       "200 with Globex's invoices, none of Acme's", ids)
            status, body = self.api("POST", f"/api/client/billing/{acme_invoice_id}/checkout", carol)
            self.check((status, body) == (404, {"error": "invoice not found"}), "404, as for a missing invoice",
                       (status, body))

    def emails(self, expected: dict[str, tuple[str, SeedContact]]) -> None:
        with self.step("7. The emails: receipts for Alice and Bob, the failed bank debit for Alice (captured)"):
            capture_dir = Path(self.stack.environment["EMAIL_CAPTURE_DIR"])

            def delivered() -> Any:
                with self.engine.begin() as conn:
                    rows = conn.execute(select(notification.c.id, notification.c.kind, notification.c.invoiceId,
                                               notification.c.status)
                                        .where(notification.c.invoiceId.in_(list(expected)))).all()
                if any(row.status in ("pending", "sending") for row in rows):  # the schedule may hold some
                    self.say(f"   NotifierFunction (as its schedule would, now) -> {run_notifier(self.stack)}")
                    return None
                return rows

            rows = self.wait_for("the notifications delivered", delivered)
            found = sorted((row.invoiceId, row.kind) for row in rows)
            self.check(found == sorted((invoice_id, kind) for invoice_id, (kind, _) in expected.items()),
                       "one notification per event and recipient", found)
            by_id = {item.id: item for item in self.invoices.values()}
            for row in rows:
                kind, contact = expected[row.invoiceId]
                item = by_id[row.invoiceId]
                path = capture_dir / f"{row.id}.json"
                summary = json.loads(path.read_text()) if path.is_file() else {}
                text = (capture_dir / f"{row.id}.txt").read_text() if path.is_file() else ""
                amount = format_amount(item.amount, item.currency)
                self.say(f"   {path.name}: to {summary.get('to')}: {summary.get('subject')}")
                self.check(row.status == "sent" and summary.get("to") == contact.email and item.number in text
                           and amount in text, f"{kind} of {item.number} ({amount}) captured for {contact.email}",
                           summary)
                self.check("secret" not in text and "cs_test_" not in text, "no secret in the message")

def run_notifier(stack: Stack) -> Json:
    """NotifierFunction in this process, with the stack's settings, as the local schedule invokes it."""
    from local.runtime import FunctionHost
    from local.scheduler import scheduler_event
    from local.template import scheduled_functions

    os.environ.update(stack.environment)
    (schedule,) = [s for s in scheduled_functions() if s.function == "NotifierFunction"]
    return FunctionHost([schedule.function]).invoke(schedule.function, scheduler_event(schedule))


def _shown(body: Json) -> str:
    """A response for the terminal: the client secret is a credential of the payer, never printed."""
    if isinstance(body, dict) and "clientSecret" in body:
        body = {**body, "clientSecret": "(received, not shown)"}
    if isinstance(body, dict) and "invoices" in body:
        return f"{len(body['invoices'])} invoices"
    text = json.dumps(body)
    return text if len(text) <= 160 else text[:157] + "..."


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the seed guide's payment flow against the local stack.")
    parser.add_argument("--wait-seconds", type=float, default=30.0, help="how long to wait for webhooks and banks")
    args = parser.parse_args(argv)
    try:
        stack = load_stack(STATE_DIR)
    except StackNotRunning as error:
        print(error, file=sys.stderr)
        return 2
    invoices = invoices_for_run(secrets.token_hex(3))
    engine = create_database_engine(stack.environment["DATABASE_URL"])
    try:
        with _invoices_of_this_run(engine, list(invoices.values())):
            print(f"demo: stack at {stack.api_url}; paying {', '.join(i.number for i in invoices.values())}, "
                  "made for this run and removed at the end (the seeded invoices are left as they are)")
            return Demo(stack, invoices, engine, wait_seconds=args.wait_seconds).run()
    finally:
        engine.dispose()


@contextmanager
def _invoices_of_this_run(engine: Engine, invoices: list[SeedInvoice]) -> Iterator[None]:
    with engine.begin() as conn:
        insert_invoices(conn, invoices)
    try:
        yield
    finally:
        with engine.begin() as conn:
            delete_invoices(conn, [item.id for item in invoices])


if __name__ == "__main__":
    raise SystemExit(main())

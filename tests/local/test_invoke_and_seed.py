"""`make invoke` (sam local invoke without Docker), `make token` and the seed: the committed events/ samples
work against a freshly seeded database, in emulator mode, as the README says."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import text

from billing.db import create_database_engine
from harness.database import ROOT
from local import seed
from local.token import emulator_id_token
from tests.support.dev_stack import run_make, stack_environment


def run(module: str, *args: str, state_dir: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, env=stack_environment(state_dir),
                          input=stdin, capture_output=True, text=True, timeout=120)


def make(*args: str, state_dir: Path) -> subprocess.CompletedProcess[str]:
    return run_make(*args, env=stack_environment(state_dir))


def response_body(result: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(json.loads(result.stdout)["body"])


def test_the_list_sample_lists_the_seeded_invoices(seeded, tmp_path) -> None:
    result = run("local.invoke", "ListInvoicesFunction", "-e", "events/list_invoices.json", state_dir=tmp_path)

    assert result.returncode == 0, result.stderr
    response = json.loads(result.stdout)  # stdout is the response alone; the logs went to stderr
    assert response["statusCode"] == 200
    invoices = json.loads(response["body"])["invoices"]
    assert [i["id"] for i in invoices] == ["inv_demo_deposit", "inv_demo_usd", "inv_demo_jpy", "inv_demo_launch"]
    assert invoices[1]["amount"] == 500 and invoices[2] == {**invoices[2], "amount": 150000, "currency": "JPY"}


def test_make_invoke_prints_the_response_alone_on_stdout(seeded, tmp_path) -> None:
    result = make("invoke", "FUNCTION=ListInvoicesFunction", "EVENT=events/list_invoices.json", state_dir=tmp_path)

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("{")  # no command line echoed before it
    assert response_body(result)["invoices"][0]["id"] == "inv_demo_deposit"


def test_the_webhook_sample_signed_now_completes_alices_checkout_of_the_seeded_invoice(seeded, tmp_path) -> None:
    # The seed has Alice's checkout of INV-DEMO-001 open with the sample's session: the webhook completes it
    result = run("local.invoke", "StripeWebhookFunction", "-e", "events/stripe_webhook.json", "--sign",
                 state_dir=tmp_path)

    assert result.returncode == 0, result.stderr
    assert response_body(result) == {"received": True, "outcome": "paid"}
    assert '"level":"ERROR"' not in result.stderr.replace(" ", "")
    listing = response_body(run("local.invoke", "ListInvoicesFunction", "-e", "events/list_invoices.json",
                                state_dir=tmp_path))
    paid = next(i for i in listing["invoices"] if i["id"] == "inv_demo_usd")
    assert (paid["status"], paid["paidByContactId"]) == ("paid", "ct_demo_alice")
    # Once more: Stripe's retry of the same event, recognised
    again = run("local.invoke", "StripeWebhookFunction", "-e", "events/stripe_webhook.json", "--sign",
                state_dir=tmp_path)
    assert response_body(again) == {"received": True, "duplicate": True}


def test_a_stale_sample_signature_is_refused(seeded, tmp_path) -> None:
    result = run("local.invoke", "StripeWebhookFunction", "-e", "events/stripe_webhook.json", state_dir=tmp_path)

    assert json.loads(result.stdout)["statusCode"] == 400


def test_env_vars_files_in_sams_format_override_settings(seeded, tmp_path) -> None:
    env_vars = tmp_path / "env.json"
    env_vars.write_text(json.dumps({"ListInvoicesFunction": {"FIREBASE_PROJECT_ID": "demo-another-project"}}))

    result = run("local.invoke", "ListInvoicesFunction", "-e", "events/list_invoices.json", "--env-vars",
                 str(env_vars), state_dir=tmp_path)

    assert json.loads(result.stdout)["statusCode"] == 401  # the sample's token is for demo-billing


def test_a_token_from_make_token_is_accepted_in_emulator_mode(seeded, tmp_path) -> None:
    token = run("local.token", "carol", state_dir=tmp_path).stdout.strip()
    event = json.loads((ROOT / "events" / "list_invoices.json").read_text())
    event["headers"]["authorization"] = f"Bearer {token}"

    result = run("local.invoke", "ListInvoicesFunction", "-e", "-", state_dir=tmp_path, stdin=json.dumps(event))

    invoices = json.loads(json.loads(result.stdout)["body"])["invoices"]
    assert [i["id"] for i in invoices] == ["inv_demo_globex_jpy", "inv_demo_globex_usd"]


def test_emulator_tokens_are_unsigned_id_tokens_for_the_project() -> None:
    token = emulator_id_token("demo-billing", "demo-uid-bob", "bob@acme.example", now=1000)
    header, claims, signature = token.split(".")

    def decode(part: str) -> dict:
        return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))

    assert decode(header) == {"alg": "none", "typ": "JWT"}
    assert signature == ""
    assert decode(claims) == {
        "iss": "https://securetoken.google.com/demo-billing", "aud": "demo-billing", "auth_time": 1000,
        "user_id": "demo-uid-bob", "sub": "demo-uid-bob", "iat": 1000, "exp": 4600, "email": "bob@acme.example",
        "email_verified": True, "firebase": {"identities": {"email": ["bob@acme.example"]},
                                             "sign_in_provider": "password"},
    }


def test_an_unknown_contact_gets_no_token(tmp_path) -> None:
    result = run("local.token", "mallory", state_dir=tmp_path)
    assert result.returncode == 2 and "alice (ct_demo_alice)" in result.stderr and result.stdout == ""


def test_make_token_without_a_contact_names_the_choices_and_prints_no_token(tmp_path) -> None:
    result = make("-s", "token", state_dir=tmp_path)

    assert result.returncode != 0
    assert result.stdout == ""
    assert "make token CONTACT=alice|bob|carol" in result.stderr


def test_seeding_again_resets_the_seeded_rows_and_leaves_others_alone(seeded) -> None:
    engine = create_database_engine(seeded)
    with engine.begin() as conn:
        conn.execute(text("""UPDATE "Invoice" SET status = 'paid', "paidByContactId" = 'ct_demo_alice'
                             WHERE id = 'inv_demo_usd'"""))
        conn.execute(text("""INSERT INTO "StripeCustomer" ("contactId", "stripeCustomerId")
                             VALUES ('ct_demo_alice', 'cus_from_a_previous_double')"""))
        conn.execute(text("""INSERT INTO "Invoice" (id, "proposalId", "invoiceNumber", amount)
                             VALUES ('inv_mine', 'pr_demo_1', 'INV-MINE-1', '42')"""))

    seed.seed(engine)

    with engine.begin() as conn:
        rows: dict[str, str] = {row.id: row.status for row in conn.execute(text('SELECT id, status FROM "Invoice"'))}
        customers = conn.execute(text('SELECT count(*) FROM "StripeCustomer"')).scalar()
    engine.dispose()
    assert rows == {**{i.id: i.status for i in seed.INVOICES}, "inv_mine": "pending"}
    assert customers == 0  # the Stripe double that made it is gone
    assert sum(1 for i in seed.INVOICES if i.status == "paid") == 1
    assert {i.currency for i in seed.INVOICES} == {"USD", "JPY"}
    assert len(seed.COMPANIES) == 2 and all(any(c.company_id == co for c in seed.CONTACTS) for co in seed.COMPANIES)

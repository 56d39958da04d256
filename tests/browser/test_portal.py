"""The seed's usage flow in Chromium: sign in, the dashboard, Pay Now, embedded Checkout in a modal, back to
/dashboard?session_id&invoice_id, verify, the invoice paid. Each test clicks through as a person would."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from playwright.sync_api import FrameLocator, expect

from billing.db import create_database_engine
from local import seed
from tests.browser.conftest import Portal

GOOD_CARD = "4242 4242 4242 4242"


def pay_with_card(checkout: FrameLocator, number: str) -> None:
    checkout.get_by_label("Card number").fill(number)
    checkout.locator("#pay").click()


def session_of(checkout: FrameLocator) -> str:
    return str(checkout.locator("#checkout").get_attribute("data-session"))


def test_the_dashboard_asks_for_a_sign_in_and_refuses_a_wrong_password(portal: Portal) -> None:
    portal.page.goto(portal.url + "/dashboard")

    # Sent to sign in, to come back afterwards
    portal.page.wait_for_url(portal.url + "/?next=%2Fdashboard")
    portal.page.get_by_label("Email").fill("alice@acme.example")
    portal.page.get_by_label("Password").fill("not-her-password")
    portal.page.get_by_role("button", name="Sign in").click()

    expect(portal.page.locator("#error")).to_have_text("Wrong email or password.")
    assert portal.page.url == portal.url + "/?next=%2Fdashboard"


def test_alice_pays_with_4242_and_sees_the_invoice_paid_by_her(portal: Portal) -> None:
    portal.sign_in("alice")

    # The dashboard: her company's invoices, amounts as each currency writes them, due dates, who paid
    assert portal.shown_invoice_ids() == ["inv_demo_deposit", "inv_demo_usd", "inv_demo_jpy", "inv_demo_launch"]
    expect(portal.row("inv_demo_usd").locator(".amount")).to_have_text("$500.00")
    expect(portal.row("inv_demo_jpy").locator(".amount")).to_have_text("¥150,000")
    expect(portal.row("inv_demo_usd").locator(".due")).to_have_text("Jan 15, 2026")
    expect(portal.row("inv_demo_deposit").locator(".status")).to_have_text("paid")
    expect(portal.row("inv_demo_deposit").locator(".paid-by")).to_have_text("Bob Baker, Dec 14, 2025")
    expect(portal.row("inv_demo_deposit").get_by_role("button", name="Pay Now")).to_have_count(0)
    portal.screenshot("dashboard")

    checkout = portal.pay_now("inv_demo_usd")
    expect(portal.page.locator("#payment-title")).to_have_text("Pay INV-DEMO-001: $500.00")
    expect(checkout.locator(".amount")).to_have_text("500.00 USD")
    portal.screenshot("checkout-modal")
    pay_with_card(checkout, GOOD_CARD)

    # Back on the dashboard from Stripe's return_url: verified, and shown paid by her
    expect(portal.notice()).to_have_text("Payment received: INV-DEMO-001 is paid.")
    expect(portal.row("inv_demo_usd").locator(".status")).to_have_text("paid")
    today = datetime.now(UTC).strftime("%b %-d, %Y")
    expect(portal.row("inv_demo_usd").locator(".paid-by")).to_have_text(f"Alice Archer, {today}")
    expect(portal.row("inv_demo_usd").get_by_role("button", name="Pay Now")).to_have_count(0)
    # The return's query is gone: a reload does not verify again
    assert portal.page.url == portal.url + "/dashboard"
    portal.screenshot("paid")


def test_a_declined_card_shows_its_message_and_the_invoice_stays_payable(portal: Portal) -> None:
    portal.sign_in("alice")
    checkout = portal.pay_now("inv_demo_launch")

    pay_with_card(checkout, "4000 0000 0000 0002")

    expect(checkout.locator("#result")).to_have_text("Your card was declined.")
    portal.screenshot("checkout-declined")
    portal.page.get_by_role("button", name="Close").click()
    expect(portal.page.locator("#payment")).to_be_hidden()
    expect(portal.row("inv_demo_launch").locator(".status")).to_have_text("pending")
    # Still payable: another card, in the same open session, pays it
    checkout = portal.pay_now("inv_demo_launch")
    pay_with_card(checkout, GOOD_CARD)
    expect(portal.notice()).to_have_text("Payment received: INV-DEMO-003 is paid.")
    expect(portal.row("inv_demo_launch").locator(".status")).to_have_text("paid")


def test_a_3d_secure_card_pays_once_the_cardholder_authenticates(portal: Portal) -> None:
    portal.sign_in("alice")
    checkout = portal.pay_now("inv_demo_usd")

    pay_with_card(checkout, "4000 0025 0000 3155")

    expect(checkout.get_by_role("button", name="Complete authentication")).to_be_visible()
    portal.screenshot("checkout-3d-secure")
    checkout.get_by_role("button", name="Complete authentication").click()
    expect(portal.notice()).to_have_text("Payment received: INV-DEMO-001 is paid.")
    expect(portal.row("inv_demo_usd").locator(".status")).to_have_text("paid")


def test_a_bank_debit_shows_processing_then_paid(portal: Portal) -> None:
    portal.sign_in("alice")
    checkout = portal.pay_now("inv_demo_launch")
    session_id = session_of(checkout)

    checkout.get_by_label("Account number").fill("000123456789")
    checkout.get_by_role("button", name="Debit 1250.50 USD").click()

    # The session completes unpaid: back on the dashboard the invoice is processing, not payable
    expect(portal.notice()).to_have_text(
        "Your bank payment for INV-DEMO-003 is processing: this page shows when it has settled.")
    expect(portal.row("inv_demo_launch").locator(".status")).to_have_text("processing")
    expect(portal.row("inv_demo_launch").get_by_role("button", name="Pay Now")).to_have_count(0)
    portal.screenshot("bank-debit-processing")
    # The bank settles the debit; its webhook marks the invoice paid, and the page shows it without a reload
    portal.stack.stripe("POST", f"/local/checkout/sessions/{session_id}/settle", {})
    expect(portal.row("inv_demo_launch").locator(".status")).to_have_text("paid")
    expect(portal.row("inv_demo_launch").locator(".paid-by")).to_contain_text("Alice Archer")


def test_a_globex_contact_never_sees_acmes_invoices(portal: Portal) -> None:
    # Given a Globex invoice in Kuwaiti dinars, a currency of three decimals
    kwd = seed.SeedInvoice("inv_browser_kwd", "pr_demo_globex_1", "INV-DEMO-103", Decimal("1234.560"), "KWD",
                           "Support", datetime(2026, 3, 31, tzinfo=UTC), 5, "Milestone", "payment-3")
    engine = create_database_engine(portal.stack.stack["environment"]["DATABASE_URL"])
    with engine.begin() as conn:
        seed.insert_invoices(conn, [kwd])
    try:
        portal.sign_in("carol")

        assert portal.shown_invoice_ids() == ["inv_demo_globex_jpy", "inv_demo_globex_usd", "inv_browser_kwd"]
        expect(portal.row("inv_demo_globex_jpy").locator(".amount")).to_have_text("¥98,000")
        expect(portal.row("inv_browser_kwd").locator(".amount")).to_have_text("KWD 1,234.560")
        portal.screenshot("dashboard-globex")
        # Acme's invoice named in a return URL: answered as a missing invoice, and nothing of it shown
        portal.page.goto(f"{portal.url}/dashboard?session_id={seed.sample_webhook_session_id()}"
                         "&invoice_id=inv_demo_usd")
        expect(portal.notice()).to_have_text("The payment could not be confirmed: invoice not found")
        assert portal.shown_invoice_ids() == ["inv_demo_globex_jpy", "inv_demo_globex_usd", "inv_browser_kwd"]
        expect(portal.page.get_by_text("INV-DEMO-001")).to_have_count(0)
    finally:
        with engine.begin() as conn:
            seed.delete_invoices(conn, [kwd.id])
        engine.dispose()


def test_a_lost_webhook_is_recovered_by_the_return_pages_verify(portal: Portal) -> None:
    # Given Stripe cannot reach the webhook
    portal.stack.stripe("POST", "/local/webhooks", {"enabled": False})
    portal.sign_in("bob")
    checkout = portal.pay_now("inv_demo_jpy")
    session_id = session_of(checkout)

    pay_with_card(checkout, GOOD_CARD)

    # The return page's verify marks it paid by Bob ...
    expect(portal.notice()).to_have_text("Payment received: INV-DEMO-002 is paid.")
    expect(portal.row("inv_demo_jpy").locator(".status")).to_have_text("paid")
    expect(portal.row("inv_demo_jpy").locator(".paid-by")).to_contain_text("Bob Baker")
    # ... alone: the webhook was never delivered
    deliveries = portal.stack.stripe("GET", "/local/webhooks/deliveries")["deliveries"]
    completed = [d["state"] for d in deliveries
                 if d["object_id"] == session_id and d["event_type"] == "checkout.session.completed"]
    assert completed == ["skipped"]


def test_the_receipts_pdf_link_downloads_the_invoice_after_signing_in(portal: Portal) -> None:
    # The link of a receipt email, opened while signed out
    portal.page.goto(portal.url + "/dashboard?pdf=inv_demo_deposit")
    portal.page.wait_for_url(portal.url + "/?next=%2Fdashboard%3Fpdf%3Dinv_demo_deposit")
    contact = seed.find_contact("alice")
    portal.page.get_by_label("Email").fill(contact.email)
    portal.page.get_by_label("Password").fill(contact.password)
    with portal.page.expect_download() as downloading:
        portal.page.get_by_role("button", name="Sign in").click()

    # Signed in, the paid invoice's PDF is saved, and the query is gone (a reload does not download again)
    download = downloading.value
    assert download.suggested_filename == "INV-DEMO-000.pdf"
    assert download.path().read_bytes().startswith(b"%PDF-")
    portal.page.wait_for_url(portal.url + "/dashboard")

    # and each row has a PDF button
    with portal.page.expect_download() as again:
        portal.row("inv_demo_usd").get_by_role("button", name="PDF").click()
    assert again.value.suggested_filename == "INV-DEMO-001.pdf"

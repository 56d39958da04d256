"""The payment-succeeded email as a mail client shows its HTML part, rendered by chromium: the image in docs/ is
what the layer's templates produce (tests/support/images.py; UPDATE_DOCS_IMAGES=1 renders it anew)."""

from __future__ import annotations

from playwright.sync_api import Browser

from billing.email_content import render
from harness.database import ROOT
from tests.support.images import check_committed_image

EMAIL_IMAGE = ROOT / "docs" / "screenshots" / "email-receipt.png"
# An outbox row's payload as billing/outbox.py writes it for a payment (fixed, so the image is the same every run).
RECEIPT = {
    "invoiceId": "inv_demo_jpy", "invoiceNumber": "INV-2026-0042", "amount": "150000", "currency": "JPY",
    "description": "Phase 1 - Foundation", "trigger": "Kickoff", "dueDate": "2026-12-31T00:00:00+00:00",
    "companyName": "株式会社アクメ (Acme Japan KK)", "paidAt": "2026-12-02T10:30:00+00:00",
    "payerName": "Alice Martin",
}


def test_the_receipt_email_in_the_docs_is_what_the_templates_render(browser: Browser) -> None:
    email = render("payment_succeeded", RECEIPT, portal_url="https://portal.example.com", payer_name="Alice Martin",
                   non_essential=False)
    page = browser.new_page(viewport={"width": 640, "height": 720})
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.set_content(email.html)

    assert page.title() == "Receipt: ¥150,000 paid for invoice INV-2026-0042"
    assert page.get_by_role("link", name="Download the paid invoice (PDF)").get_attribute("href") == (
        "https://portal.example.com/dashboard?pdf=inv_demo_jpy")
    assert requests == []  # the message loads nothing: no tracking pixel, no remote image or font
    check_committed_image(page.screenshot(full_page=True), EMAIL_IMAGE)
    page.close()

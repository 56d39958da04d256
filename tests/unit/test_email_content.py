"""The messages' content from the layer's templates: pure, no database, no SES."""

from __future__ import annotations

import pytest

from billing.config_rules import is_reserved_email_domain
from billing.email_content import render

PAYLOAD = {"invoiceId": "inv_1", "invoiceNumber": "INV-1", "amount": "1234.56", "currency": "KWD",
           "description": "Phase <1>", "trigger": None, "dueDate": "2026-12-31T00:00:00+00:00",
           "companyName": "<script>alert(1)</script> & Co", "paidAt": None}


@pytest.mark.parametrize("kind", ["invoice_issued", "payment_succeeded", "payment_failed", "refund_made"])
def test_every_kind_renders_subject_text_and_escaped_html(kind: str) -> None:
    payload = PAYLOAD | {"refundedAmount": "100.00", "refundedCurrency": "KWD", "fullRefund": False}
    email = render(kind, payload, portal_url="https://portal.example.com", payer_name="<b>Alice</b>",
                   non_essential=kind == "invoice_issued")

    assert "INV-1" in email.subject and "\n" not in email.subject
    assert "<script>alert(1)</script> & Co" in email.text and "KWD 1,234.560" in email.text
    assert "<script>" not in email.html and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co" in email.html
    assert "<b>Alice</b>" not in email.html and "Phase &lt;1&gt;" in email.html
    assert "https://portal.example.com/dashboard" in email.text


def test_only_the_receipt_links_the_paid_pdf_and_only_announcements_say_how_to_opt_out() -> None:
    payload = PAYLOAD | {"refundedAmount": "1", "refundedCurrency": "KWD"}
    rendered = {kind: render(kind, payload, portal_url="https://p.example.com", payer_name=None,
                             non_essential=kind == "invoice_issued")
                for kind in ("invoice_issued", "payment_succeeded", "payment_failed", "refund_made")}
    assert [k for k, e in rendered.items() if "dashboard?pdf=inv_1" in e.text] == ["payment_succeeded"]
    assert [k for k, e in rendered.items() if "turn off" in e.text] == ["invoice_issued"]
    assert "Hello there," in rendered["payment_succeeded"].text


@pytest.mark.parametrize(("address", "reserved"), [
    ("billing@portal.localhost", True), ("a@b.test", True), ("a@example.com", True), ("a@mail.example.org", True),
    ("a@example.com.evil.io", False), ("a@notexample.com", False), ("a@mytest", False), ("a@client-portal.io", False),
    ("", False), (None, False),
])
def test_only_domains_reserved_for_tests_may_capture_mail(address: str | None, reserved: bool) -> None:
    assert is_reserved_email_domain(address) is reserved

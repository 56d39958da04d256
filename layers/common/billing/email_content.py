"""The messages the notifier sends: subject, plain text and HTML, from the templates in billing/templates
(`string.Template`: `$name` placeholders, nothing executable; a heavier engine would add a dependency and cold
start for four short messages). Every value is HTML-escaped in the HTML part; amounts are written with their
currency's decimals (billing.money.format_amount: JPY none, KWD three).

What a message may show is what the outbox row holds (billing/outbox.py: the invoice's facts, no secret and no
Stripe id) plus the recipient's name and the portal's links: nothing else reaches a template.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from importlib.resources import files
from string import Template
from typing import Any, NamedTuple
from urllib.parse import quote, urlencode

from billing.money import format_amount
from billing.schema import NotificationKind

FOOTER = "You receive this email because you are a billing contact of {company} in its client portal."
FOOTER_NON_ESSENTIAL = FOOTER + " You can turn off invoice announcements in the portal's settings."


class RenderedEmail(NamedTuple):
    subject: str
    text: str
    html: str


def portal_dashboard_link(portal_url: str) -> str:
    return f"{portal_url}/dashboard"


def portal_invoice_pdf_link(portal_url: str, invoice_id: str) -> str:
    """The portal page that downloads the invoice's PDF for a signed-in contact (the API route needs their token,
    which a link in an email cannot carry): `/dashboard?pdf=<invoiceId>`."""
    return f"{portal_url}/dashboard?{urlencode({'pdf': invoice_id}, quote_via=quote)}"


def render(kind: str, payload: Mapping[str, Any], *, portal_url: str, payer_name: str | None,
           non_essential: bool) -> RenderedEmail:
    """The message for an outbox row of `kind` with `payload`."""
    values = _values(kind, payload, payer_name)
    company = values["company"]
    links = _links(kind, payload, portal_url)
    subject = _template(f"{kind}.subject").substitute(values).strip()
    body = _template(f"{kind}.body").substitute(values).strip()
    footer = (FOOTER_NON_ESSENTIAL if non_essential else FOOTER).format(company=company)
    text = _template("layout.txt").substitute(
        values, body=body, footer=footer, links="\n".join(f"{label}: {url}" for label, url in links),
    )
    escaped = {name: html.escape(value) for name, value in values.items()}
    html_body = "\n".join(f'<p style="margin:0 0 12px;font-size:15px;line-height:1.5">{html.escape(paragraph)}</p>'
                          for paragraph in body.split("\n\n"))
    html_links = "\n".join(
        f'<p style="margin:8px 0"><a href="{html.escape(url)}" style="display:inline-block;padding:10px 16px;'
        f'background:#3b5bdb;color:#ffffff;border-radius:6px;text-decoration:none">{html.escape(label)}</a></p>'
        for label, url in links
    )
    html_part = _template("layout.html").substitute(escaped, subject=html.escape(subject), body=html_body,
                                                    links=html_links, footer=html.escape(footer))
    return RenderedEmail(subject, text.strip() + "\n", html_part)


def _values(kind: str, payload: Mapping[str, Any], payer_name: str | None) -> dict[str, str]:
    currency = str(payload["currency"])
    values = {
        "company": str(payload.get("companyName") or "Your company"),
        "invoice_number": str(payload["invoiceNumber"]),
        "amount": format_amount(Decimal(str(payload["amount"])), currency),
        "description": _description(payload),
        "due_date": _date(payload.get("dueDate")) or "on receipt",
        "payer_name": payer_name or "there",
        "paid_date": _date(payload.get("paidAt")) or "today",
        "refunded_amount": "",
        "refund_scope": "",
    }
    if kind == NotificationKind.REFUND_MADE:
        values["refunded_amount"] = format_amount(Decimal(str(payload["refundedAmount"])),
                                                  str(payload.get("refundedCurrency") or currency))
        values["refund_scope"] = " in full" if payload.get("fullRefund") else ""
    return values


def _links(kind: str, payload: Mapping[str, Any], portal_url: str) -> list[tuple[str, str]]:
    links = [("Open the client portal", portal_dashboard_link(portal_url))]
    if kind == NotificationKind.PAYMENT_SUCCEEDED:
        links.insert(0, ("Download the paid invoice (PDF)", portal_invoice_pdf_link(portal_url,
                                                                                    str(payload["invoiceId"]))))
        receipt = payload.get("receiptUrl")
        if isinstance(receipt, str) and receipt.startswith("https://"):
            links.insert(1, ("Stripe receipt", receipt))
    if kind == NotificationKind.PAYMENT_FAILED:
        links[0] = ("Pay the invoice in the portal", portal_dashboard_link(portal_url))
    return links


def _description(payload: Mapping[str, Any]) -> str:
    parts = [str(part) for part in (payload.get("description"), payload.get("trigger")) if part]
    return " — ".join(parts) or "—"


def _date(value: Any) -> str | None:
    """The UTC calendar day of an ISO timestamp, as "30 Nov 2026"."""
    if not isinstance(value, str) or not value:
        return None
    moment = datetime.fromisoformat(value)
    return (moment.astimezone(UTC) if moment.tzinfo else moment).strftime("%d %b %Y").lstrip("0")


@cache
def _template(name: str) -> Template:
    return Template(files("billing").joinpath("templates", name).read_text(encoding="utf-8"))

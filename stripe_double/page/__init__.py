"""The payment page the double serves at `/checkout/{session_id}` (what Stripe's hosted or embedded page asks of
a payer, with Stripe's test cards and bank accounts to pick from), and the browser-side files beside this module:
`checkout.js` (the page's behaviour) and `stripe.js` (a stand-in for the subset of Stripe.js a portal uses:
`Stripe(key)`, `initEmbeddedCheckout({fetchClientSecret})`, `mount`, `destroy`)."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from stripe_double.checkout import TEST_BANK_ACCOUNTS, TEST_CARDS, Checkout, PaymentRefused

Json = dict[str, Any]

# The browser-side files, by the name they are served under (/js/<name>).
SCRIPTS = {name: Path(__file__).parent / name for name in ("checkout.js", "stripe.js")}


def checkout_page(checkout: Checkout, session_id: str) -> str:
    try:
        summary = checkout.summary(session_id)
    except PaymentRefused as refused:
        return _PAGE.format(title="Checkout", body=f"<p>{html.escape(refused.message)}</p>")
    title = f"Pay {html.escape(summary['amount'])}"
    if summary["status"] != "open":
        back = summary["redirect_url"]
        link = f' <a href="{html.escape(back)}">Return to the portal</a>' if back else ""
        return _PAGE.format(title=title, body=f"<p>This Checkout Session is {summary['status']}.{link}</p>")
    return _PAGE.format(title=title, body=_checkout_body(summary))


def _checkout_body(summary: Json) -> str:
    """The payment page: what Stripe's page asks for, with Stripe's test cards and bank accounts to pick from.
    Its behaviour is js/checkout.js (no inline handlers: an inline `onclick` resolves names against the button's
    own properties first)."""
    metadata = summary["metadata"]
    cards = "".join(
        f'<option value="{number[:4]} {number[4:8]} {number[8:12]} {number[12:]}">{html.escape(card.message)}</option>'
        for number, card in TEST_CARDS.items()
    )
    accounts = "".join(
        f'<option value="{number}">{html.escape(text)}</option>' for number, (_, text) in TEST_BANK_ACCOUNTS.items()
    )
    # Stripe offers a US bank debit only for USD; the double refuses it for other currencies.
    bank = "" if summary["currency"] != "usd" else f"""
<fieldset><legend>US bank account</legend>
  <label>Account number (routing 110000000)
    <input id="account" value="000123456789" list="test-accounts" autocomplete="off" required></label>
  <datalist id="test-accounts">{accounts}</datalist>
  <button id="debit" type="button">Debit {html.escape(summary["amount"])}</button>
</fieldset>"""
    state = f"{summary['status']} / {summary['payment_status']}"
    return f"""
<main id="checkout" data-session="{html.escape(summary["id"])}">
<p>Invoice <b>{html.escape(metadata.get("invoiceNumber", "?"))}</b>:
<b class="amount">{html.escape(summary["amount"])}</b></p>
<fieldset><legend>Card</legend>
  <label>Card number <input id="card" value="4242 4242 4242 4242" list="test-cards" inputmode="numeric"
    autocomplete="off" required></label>
  <datalist id="test-cards">{cards}</datalist>
  <button id="pay" type="button">Pay {html.escape(summary["amount"])}</button>
  <div id="authenticate" hidden><p>3D Secure: the bank asks the cardholder to authenticate.</p>
    <button id="approve" type="button">Complete authentication</button>
    <button id="deny" type="button">Fail authentication</button></div>
</fieldset>{bank}
<p id="result" role="alert"></p>
<p class="session">Session <code>{html.escape(summary["id"])}</code>: <span id="state">{html.escape(state)}</span></p>
</main>
<script src="/js/checkout.js"></script>"""


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title><link rel="icon" href="data:,">
<style>body{{font-family:system-ui,sans-serif;max-width:34rem;margin:1rem auto;padding:0 1rem;color:#1a1f36}}
h1{{font-size:1.3rem}} fieldset{{margin:1rem 0;border:1px solid #d5dbe1;border-radius:6px}}
label{{display:block;margin:.3rem 0}} input{{font:inherit;padding:.3rem;width:16rem}}
button{{font:inherit;padding:.35rem .8rem;margin:.3rem .3rem 0 0;border:0;border-radius:4px;background:#635bff;
color:#fff;cursor:pointer}} #deny{{background:#8792a2}} #result{{min-height:1.2em;color:#b3093c}}
#result.done{{color:#0a7e3e}} .session,.test-mode{{color:#697386;font-size:.85rem}}</style></head>
<body><h1>{title}</h1><p class="test-mode">Local Stripe double: test mode, no real money.</p>{body}</body></html>"""

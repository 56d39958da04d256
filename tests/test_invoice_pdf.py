"""GET /api/client/billing/{invoiceId}/pdf: the invoice as a PDF, read back with pypdf."""

from __future__ import annotations

import base64
import io
import os
import re
import subprocess
import sys

import pytest
from pypdf import PdfReader

from harness.database import ROOT
from harness.events import client_request, decode
from tests.support.images import check_committed_image
from tests.support.openapi import check_response

ROUTE = "GET /api/client/billing/{invoiceId}/pdf"


def get_pdf(functions, token_issuer, contact, invoice_id: str) -> dict:
    """The route's answer, checked against docs/openapi.yaml like every route's."""
    event = client_request("invoice_pdf", token_issuer.token(contact.uid), invoiceId=invoice_id)
    response = functions.invoice_pdf(event, None)
    if response["statusCode"] == 200:
        check_response(ROUTE, 200, base64.b64decode(response["body"]))
    else:
        check_response(ROUTE, *decode(response))
    return response


def pdf_text(response: dict) -> str:
    assert response["statusCode"] == 200 and response["isBase64Encoded"] is True
    assert response["headers"]["content-type"] == "application/pdf"
    reader = PdfReader(io.BytesIO(base64.b64decode(response["body"])))
    return "\n".join(page.extract_text() for page in reader.pages)


def words(text: str) -> set[str]:
    """The words of a text layer, without the control characters pypdf reads for glyphs that shaping made (Arabic
    joined forms have no character of their own)."""
    return set(re.sub(r"[\x00-\x09\x0b-\x1f]", "", text).split())


def test_a_paid_invoice_shows_its_company_amount_schedule_due_date_and_paid_mark(
    world, api, stripe_double, functions, token_issuer, db
) -> None:
    acme = world.company("株式会社アクメ")
    alice = world.contact(acme, email="alice@acme.example")
    invoice_id = world.invoice(acme, "150000", currency="JPY", due="2026-12-31T00:00:00+00:00",
                               description="Phase 1 - Foundation")
    db('UPDATE "Invoice" SET trigger = \'Kickoff\' WHERE id = :id', id=invoice_id)
    _, created = api.checkout(alice, invoice_id)
    (completed,) = stripe_double.complete_session(created["sessionId"])
    api.deliver(completed)
    paid_at = db('SELECT "paidAt", "invoiceNumber" FROM "Invoice" WHERE id = :id', id=invoice_id)[0]

    response = get_pdf(functions, token_issuer, alice, invoice_id)

    text = pdf_text(response)
    assert "株式会社アクメ" in text
    for expected in (paid_at["invoiceNumber"], "Phase 1 - Foundation", "Kickoff", "¥150,000", "31 Dec 2026",
                     "PAID", f"Paid on {paid_at['paidAt'].strftime('%d %b %Y').lstrip('0')} by alice@acme.example"):
        assert expected in text
    assert response["headers"]["content-disposition"] == f'attachment; filename="{paid_at["invoiceNumber"]}.pdf"'


def test_an_arabic_company_name_and_three_decimals_render(world, functions, token_issuer) -> None:
    company = world.company("شركة الخليج للتجارة")
    contact = world.contact(company)
    invoice_id = world.invoice(company, "1234.560", currency="KWD", description="Kickoff")

    text = pdf_text(get_pdf(functions, token_issuer, contact, invoice_id))

    assert {"شركة", "الخليج", "للتجارة"} <= words(text)  # read back in visual (right-to-left) order
    assert "KWD 1,234.560" in text and "Awaiting payment" in text and "PAID" not in text


def test_another_companys_invoice_is_not_found(world, functions, token_issuer) -> None:
    acme, globex = world.company(), world.company("Globex")
    carol = world.contact(globex)
    invoice_id = world.invoice(acme)
    assert decode(get_pdf(functions, token_issuer, carol, invoice_id)) == (404, {"error": "invoice not found"})
    assert decode(get_pdf(functions, token_issuer, carol, "inv_missing")) == (404, {"error": "invoice not found"})


def test_no_other_function_loads_the_pdf_code() -> None:
    # Every other function of the template imported in a fresh process, as their cold starts would: none of fpdf2,
    # HarfBuzz or the PDF module is loaded.
    script = (
        "import sys\n"
        "from local.template import functions, load_handler\n"
        "for name, f in functions().items():\n"
        "    if name != 'InvoicePdfFunction':\n"
        "        load_handler(f.code_dir, f.handler, name)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('fpdf', 'uharfbuzz', 'invoice_pdf', 'fontpkg')))\n"
    )
    loaded = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": f"{ROOT / 'layers' / 'common'}:{ROOT}"})
    assert loaded.stdout.strip() == "[]", loaded.stderr


@pytest.mark.parametrize("status", ["processing", "failed", "refunded", "void"])
def test_every_status_is_written_out(world, functions, token_issuer, db, status) -> None:
    acme = world.company()
    alice = world.contact(acme)
    invoice_id = world.invoice(acme, status=status)
    text = pdf_text(get_pdf(functions, token_issuer, alice, invoice_id))
    assert {"processing": "Payment processing", "failed": "Payment failed", "refunded": "Refunded",
            "void": "Void"}[status] in text


PDF_PAGE_IMAGE = ROOT / "docs" / "screenshots" / "invoice-pdf.png"


def test_the_pdf_page_in_the_docs_is_what_the_function_renders(world, functions, token_issuer, db, tmp_path) -> None:
    # A paid invoice with fixed dates, so the page is the same on every run
    acme = world.company("株式会社アクメ (Acme Japan KK)")
    alice = world.contact(acme, email="alice@acme.example")
    invoice_id = world.invoice(acme, "150000", currency="JPY", due="2026-12-31T00:00:00+00:00",
                               description="Phase 1 - Foundation")
    db('UPDATE "Invoice" SET "invoiceNumber" = \'INV-2026-0042\', trigger = \'Kickoff\', status = \'paid\', '
       '"paidAt" = \'2026-12-02T10:30:00+00:00\', "paidByContactId" = :payer WHERE id = :id',
       payer=alice.id, id=invoice_id)
    pdf = tmp_path / "invoice.pdf"
    pdf.write_bytes(base64.b64decode(get_pdf(functions, token_issuer, alice, invoice_id)["body"]))

    # The first page, as poppler's pdftoppm draws it (scripts/install_fonts.sh installs it)
    subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", "-singlefile", str(pdf),
                    str(tmp_path / "page")], check=True)

    check_committed_image((tmp_path / "page.png").read_bytes(), PDF_PAGE_IMAGE)

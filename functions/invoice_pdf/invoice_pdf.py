"""An invoice as a PDF, with fpdf2.

Why fpdf2: pure Python (one small wheel, nothing to compile or run beside it: no headless browser, no Cairo or
Pango as WeasyPrint needs, no ReportLab C extensions), it embeds only the glyphs a document uses (subsetting), and
it shapes text through HarfBuzz (uharfbuzz), which Arabic needs (joined letters, right to left); fallback fonts
per glyph let one line mix Latin, Japanese and Arabic.

Fonts: Noto Sans for Latin text and figures, IPAex Gothic for Japanese (kanji and kana), Noto Sans Arabic. A
document carries only the fallback fonts its text needs: every font added is parsed, subset and embedded, and IPAex
Gothic (12,000 glyphs) costs most of a Japanese document's time. A missing font fails the cold start (`fonts()`),
not a request.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path

from fpdf import FPDF

from billing.invoices import InvoiceDocument
from billing.money import format_amount

_HERE = Path(__file__).resolve().parent
# `sam build` copies the Japanese font next to this file (functions/invoice_pdf/Makefile); a development machine has
# it where Debian's fonts-ipaexfont-gothic puts it (scripts/install_fonts.sh).
JAPANESE_FONT_CANDIDATES = (_HERE / "fonts" / "ipaexg.ttf",
                            Path("/usr/share/fonts/opentype/ipaexfont-gothic/ipaexg.ttf"))

_STATUS_LABELS = {"pending": "Awaiting payment", "processing": "Payment processing (bank debit)",
                  "paid": "Paid", "failed": "Payment failed: payable again", "refunded": "Refunded",
                  "void": "Void (cancelled by the issuer)"}
_INK, _MUTED, _PAID = (31, 41, 51), (97, 110, 124), (22, 128, 61)


@cache
def fonts() -> dict[str, Path]:
    """The font files, found once: Latin (the main font), Japanese and Arabic (fallbacks)."""
    import fontpkg

    japanese = next((path for path in JAPANESE_FONT_CANDIDATES if path.is_file()), None)
    if japanese is None:
        raise FileNotFoundError("the Japanese font (IPAex Gothic, ipaexg.ttf) is missing: run "
                                "scripts/install_fonts.sh, or `sam build` the function")
    return {"latin": Path(fontpkg.path("Noto Sans")), "japanese": japanese,
            "arabic": Path(fontpkg.path("Noto Sans Arabic"))}


def render_invoice_pdf(document: InvoiceDocument) -> bytes:
    fallbacks = _fallback_fonts(" ".join(str(value) for value in document if value is not None))
    pdf = _document(fallbacks)
    pdf.set_title(f"Invoice {document.invoice_number}")
    pdf.set_creation_date(document.paid_at or document.due_date or datetime(2000, 1, 1, tzinfo=UTC))
    pdf.set_font("latin", size=11)
    pdf.set_fallback_fonts(list(fallbacks))
    pdf.set_text_shaping(True)
    pdf.set_auto_page_break(auto=True, margin=20)
    pdf.add_page()

    _header(pdf, document)
    _details(pdf, document)
    if document.status in ("paid", "refunded") and document.paid_at:
        _paid_mark(pdf, document)
    return bytes(pdf.output())


def _fallback_fonts(text: str) -> tuple[str, ...]:
    """The fallback fonts `text` needs: Japanese for CJK ideographs, kana and full-width forms, Arabic for Arabic."""
    needed = []
    if any("\u3000" <= c <= "\u9fff" or "\uf900" <= c <= "\ufaff" or "\uff00" <= c <= "\uffef" for c in text):
        needed.append("japanese")
    if any("\u0600" <= c <= "\u06ff" or "\u0750" <= c <= "\u077f" or "\ufb50" <= c <= "\ufeff" for c in text):
        needed.append("arabic")
    return tuple(needed)


def _document(fallbacks: tuple[str, ...]) -> FPDF:
    """A new document with the Latin font and the fallbacks the text needs. Each is read from its file again:
    fpdf2 subsets a font in place when it writes the document, so a parsed font serves one document only."""
    pdf = FPDF(format="A4")
    for name in ("latin", *fallbacks):
        pdf.add_font(name, fname=str(fonts()[name]))
    return pdf


def prepare() -> None:
    """At init (and into the SnapStart snapshot): every font found; the modules fpdf2 and fontTools load while
    writing a document loaded by a first (Latin) one, so the first request does not pay for them."""
    fonts()
    render_invoice_pdf(InvoiceDocument(company_name="-", invoice_number="-", description=None, trigger=None,
                                       amount=Decimal("1"), currency="USD", due_date=None, status="paid",
                                       paid_at=datetime(2000, 1, 1, tzinfo=UTC), payer=None))


def _header(pdf: FPDF, document: InvoiceDocument) -> None:
    pdf.set_text_color(*_MUTED)
    pdf.set_font_size(10)
    pdf.cell(h=7, text="INVOICE", new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(*_INK)
    pdf.set_font_size(22)
    pdf.cell(h=10, text=document.invoice_number, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)
    pdf.set_text_color(*_MUTED)
    pdf.set_font_size(10)
    pdf.cell(h=7, text="Billed to", new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(*_INK)
    pdf.set_font_size(14)
    pdf.multi_cell(w=0, text=document.company_name or "—", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)


def _details(pdf: FPDF, document: InvoiceDocument) -> None:
    rows = (
        ("Description", document.description or "—"),
        ("Schedule", document.trigger or "—"),
        ("Amount", format_amount(document.amount, document.currency)),
        ("Due date", _day(document.due_date) or "On receipt"),
        ("Status", _STATUS_LABELS.get(document.status, document.status)),
    )
    pdf.set_draw_color(220, 224, 228)
    for label, value in rows:
        pdf.set_font_size(10)
        pdf.set_text_color(*_MUTED)
        pdf.cell(w=40, h=10, text=label, border="B")
        pdf.set_text_color(*_INK)
        pdf.set_font_size(16 if label == "Amount" else 12)
        pdf.multi_cell(w=0, h=10, text=value, border="B", new_x="LMARGIN", new_y="NEXT")


def _paid_mark(pdf: FPDF, document: InvoiceDocument) -> None:
    pdf.ln(12)
    pdf.set_draw_color(*_PAID)
    pdf.set_text_color(*_PAID)
    pdf.set_line_width(0.8)
    pdf.set_font_size(28)
    pdf.cell(w=60, h=16, text="PAID", border=1, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font_size(11)
    pdf.ln(2)
    paid = f"Paid on {_day(document.paid_at)}" + (f" by {document.payer}" if document.payer else "")
    pdf.multi_cell(w=0, text=paid, new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(*_INK)


def _day(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return (moment.astimezone(UTC) if moment.tzinfo else moment).strftime("%d %b %Y").lstrip("0")

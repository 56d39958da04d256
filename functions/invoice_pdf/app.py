"""GET /api/client/billing/{invoiceId}/pdf — the invoice as a PDF, for a contact of its company (another company's
invoice is 404, as on every route). Its own function: fpdf2, HarfBuzz and the fonts load here and nowhere else."""

# The module beside this one (Lambda puts the function's directory on the path; mypy checks that file on its own)
from invoice_pdf import prepare, render_invoice_pdf  # type: ignore[import-not-found]

from billing.auth import authenticated_uid
from billing.http import ApiRequest, FileResponse, endpoint, path_parameter
from billing.invoices import invoice_document
from billing.settings import Need, configure
from billing.snapstart import register_runtime_hooks

configure(Need.DATABASE, Need.FIREBASE)
register_runtime_hooks()
prepare()  # at init (and into the SnapStart snapshot): a missing font fails the cold start


@endpoint
def lambda_handler(request: ApiRequest) -> FileResponse:
    document = invoice_document(authenticated_uid(request.headers), path_parameter(request, "invoiceId"))
    return FileResponse("application/pdf", render_invoice_pdf(document), f"{document.invoice_number}.pdf")

"""Google's token-certificate endpoint answered at the HTTP layer (the `responses` library) in this process:
firebase-admin fetches the issuer's certificates from the real URL and verifies real signatures. (Functions in
other processes reach `https_endpoint` instead.)"""

from __future__ import annotations

import responses

GOOGLE_HOST = "www.googleapis.com"
CERT_PATH = "/robot/v1/metadata/x509/securetoken@system.gserviceaccount.com"
GOOGLE_CERT_URL = f"https://{GOOGLE_HOST}{CERT_PATH}"
# What Google sends: firebase-admin caches the certificates for max-age seconds (once per warm container).
CACHE_CONTROL = "public, max-age=19000, must-revalidate, no-transform"


def google_certificate_endpoint(certificates: dict[str, str]) -> responses.RequestsMock:
    """A started RequestsMock answering Google's certificate URL with `certificates` (kid -> PEM); every other
    request leaving this machine fails, as it would here."""
    mock = responses.RequestsMock(assert_all_requests_are_fired=False)
    serve_certificates(mock, certificates)
    mock.add_passthru("http://127.0.0.1")
    mock.add_passthru("http://localhost")
    mock.start()
    return mock


def serve_certificates(mock: responses.RequestsMock, certificates: dict[str, str]) -> None:
    """Answer Google's certificate URL with `certificates` from now on (kid -> PEM)."""
    mock.upsert(
        responses.GET,
        GOOGLE_CERT_URL,
        json=certificates,
        headers={"Cache-Control": CACHE_CONTROL},
    )

"""What a configuration may not do: the rules every function applies at start and `make doctor` reports.

Local runs need switches production must never honour: emulator tokens (firebase-admin checks no signature),
another Stripe API base (the double), `sam local`'s AWS_SAM_LOCAL. Each is guarded by a fact a misconfiguration
cannot fake, not by where the code believes it runs (AWS_SAM_LOCAL is one variable anyone can set on a deployed
function):

- emulator mode only for a `demo-` Firebase project: such projects exist only in the emulator, no real user signs
  in to one, and the template refuses to deploy one;
- another Stripe API base only with a test-mode key: a live key never leaves for anywhere but api.stripe.com;
- a live key, which takes real money, with no local switch at all;
- capturing email into files (EMAIL_CAPTURE_DIR) only for a sender at a domain reserved for tests, for which SES
  verifies no identity: a deployment that really sends mail cannot have it vanish into a directory;
- the portal URL, where Stripe sends payers back, an https origin and nothing else (http only for localhost):
  `https://portal.example.com@evil.example` is evil.example.

Each rule answers a list of problems, each a sentence saying what is wrong and what to do; no value of a secret
is ever part of one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import urlsplit

DEMO_PROJECT_PREFIX = "demo-"
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]"})
# host[:port] and nothing else: lower-case DNS labels or an IPv4 address, or the IPv6 loopback
_ORIGIN_AUTHORITY = re.compile(r"(?P<host>[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?|\[::1\])(?::(?P<port>[0-9]{1,5}))?")
_TEST_KEY = re.compile(r"(sk|rk)_test_\S+")
_LIVE_KEY = re.compile(r"(sk|rk)_live_\S+")


def is_live_key(stripe_secret_key: str | None) -> bool:
    return bool(stripe_secret_key and _LIVE_KEY.fullmatch(stripe_secret_key))


def portal_url_problems(url: str) -> list[str]:
    """PORTAL_URL: Stripe sends every payer back to it, so it must be exactly an origin we name."""
    parts = urlsplit(url)
    authority = _ORIGIN_AUTHORITY.fullmatch(parts.netloc)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return [f"PORTAL_URL {url!r} is not an absolute URL: give the portal's origin, e.g. https://portal.example.com"]
    if authority is None:
        return [f"PORTAL_URL {url!r} has user info or an unusual host ({parts.netloc!r}): give the portal's origin "
                "only, scheme://host[:port], e.g. https://portal.example.com"]
    if parts.path not in ("", "/") or parts.query or parts.fragment or url.endswith(("?", "#")):
        return [f"PORTAL_URL {url!r} has a path, query or fragment: give the portal's origin only (the return URL "
                "appends /dashboard?session_id=...)"]
    if parts.scheme == "http" and authority.group("host") not in LOCAL_HOSTS:
        return [f"PORTAL_URL {url!r} is http: payers return to it from Stripe, so it must be https (http only for "
                "localhost)"]
    port = authority.group("port")
    if port is not None and not 0 < int(port) < 65536:
        return [f"PORTAL_URL {url!r} has no valid port"]
    return []


def emulator_problems(environ: Mapping[str, str], firebase_project_id: str | None) -> list[str]:
    """FIREBASE_AUTH_EMULATOR_HOST turns off every signature check in firebase-admin."""
    if environ.get("FIREBASE_AUTH_EMULATOR_HOST") and not (firebase_project_id or "").startswith(DEMO_PROJECT_PREFIX):
        return [f"FIREBASE_AUTH_EMULATOR_HOST is set for the Firebase project {firebase_project_id!r}: emulator mode "
                "accepts unsigned tokens, so it is allowed only for an emulator-only demo- project; unset it"]
    return []


def stripe_problems(environ: Mapping[str, str], stripe_secret_key: str | None) -> list[str]:
    """STRIPE_API_BASE only with a test-mode key; a live key only where no local switch is set."""
    problems = []
    if environ.get("STRIPE_API_BASE") and not (stripe_secret_key and _TEST_KEY.fullmatch(stripe_secret_key)):
        problems.append("STRIPE_API_BASE sends Stripe calls elsewhere than api.stripe.com: it is for local doubles and "
                        "only with a test-mode key (sk_test_...); unset it")
    if is_live_key(stripe_secret_key):
        switches = local_switches(environ)
        if switches:
            problems.append(f"a live Stripe key together with local-only settings ({', '.join(switches)}): never take "
                            "real money from a local configuration; unset them or use a test key")
    return problems


def local_switches(environ: Mapping[str, str]) -> list[str]:
    """The settings present that only a local run should have, named."""
    found = [name for name in ("FIREBASE_AUTH_EMULATOR_HOST", "STRIPE_API_BASE", "EMAIL_CAPTURE_DIR")
             if environ.get(name)]
    if environ.get("AWS_SAM_LOCAL"):
        found.append("AWS_SAM_LOCAL")
    if (environ.get("FIREBASE_PROJECT_ID") or "").startswith(DEMO_PROJECT_PREFIX):
        found.append("a demo- FIREBASE_PROJECT_ID")
    if (environ.get("PORTAL_URL") or "").startswith("http://"):
        found.append("an http PORTAL_URL")
    return found


def logging_problems(environ: Mapping[str, str]) -> list[str]:
    """STRIPE_LOG makes the Stripe SDK print request and response bodies (client secrets, payers' emails) to
    stderr itself, past every logger level."""
    if environ.get("STRIPE_LOG"):
        return ["STRIPE_LOG makes the Stripe SDK print request and response bodies (client secrets, emails) to "
                "the logs: unset it"]
    return []


# Domains no one can own (RFC 2606, RFC 6761), and their subdomains: SES can verify no identity at them.
RESERVED_EMAIL_DOMAINS = ("test", "example", "invalid", "localhost", "example.com", "example.net", "example.org")


def is_reserved_email_domain(address: str | None) -> bool:
    domain = (address or "").rpartition("@")[2].lower().rstrip(".")
    return any(domain == reserved or domain.endswith("." + reserved) for reserved in RESERVED_EMAIL_DOMAINS)


def email_capture_problems(capture_dir: str | None, sender: str | None) -> list[str]:
    """EMAIL_CAPTURE_DIR writes every message to files instead of sending it."""
    if capture_dir and not is_reserved_email_domain(sender):
        return ["EMAIL_CAPTURE_DIR keeps email from being sent: it is for local runs and only with a sender at a "
                "domain reserved for tests (e.g. billing@portal.test); unset it"]
    return []

"""The reference portal in a real browser: Debian's chromium driven by Playwright for Python (`make test-browser`),
against the local stack exactly as `make dev` runs it (separate processes on free ports, a SQLite file).

Every request a page makes is checked to stay on this machine (nothing fetched from the internet), and an
uncaught JavaScript error fails the test. Screenshots go to docs/screenshots/ (BROWSER_SCREENSHOTS elsewhere)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, FrameLocator, Locator, Page, expect, sync_playwright

from billing.db import create_database_engine
from harness.database import ROOT
from local import seed
from tests.support.dev_stack import RunningStack, dev_stack

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = Path(os.environ.get("BROWSER_SCREENSHOTS") or ROOT / "docs" / "screenshots")
LOCAL_HOSTS = ("localhost", "127.0.0.1")

expect.set_options(timeout=15_000)  # a loaded 2-core machine is slower than a laptop


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    # Bank debits settle when a test says so (the bank's answer: POST .../settle), not after a delay.
    with dev_stack(tmp_path_factory.mktemp("stack"), "--bank-debit-settle-seconds", "-1") as running:
        yield running


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        # Playwright's own browser build cannot be downloaded here: the system's chromium. --no-sandbox: as root.
        launched = playwright.chromium.launch(executable_path=CHROMIUM,
                                              args=["--no-sandbox", "--disable-dev-shm-usage"])
        yield launched
        launched.close()


@dataclass
class Portal:
    """The reference portal page as a person uses it."""

    page: Page
    stack: RunningStack
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return str(self.stack.stack["portal_url"])

    def sign_in(self, name: str) -> None:
        contact = seed.find_contact(name)
        self.page.goto(self.url + "/")
        self.page.get_by_label("Email").fill(contact.email)
        self.page.get_by_label("Password").fill(contact.password)
        self.page.get_by_role("button", name="Sign in").click()
        self.page.wait_for_url(self.url + "/dashboard")
        expect(self.rows().first).to_be_visible()

    def rows(self) -> Locator:
        return self.page.locator("tr[data-invoice]")

    def row(self, invoice_id: str) -> Locator:
        return self.page.locator(f'tr[data-invoice="{invoice_id}"]')

    def shown_invoice_ids(self) -> list[str]:
        return list(self.rows().evaluate_all("rows => rows.map(row => row.dataset.invoice)"))

    def pay_now(self, invoice_id: str) -> FrameLocator:
        """Pay Now on an invoice: the modal with Stripe's embedded Checkout (the payment page in its iframe)."""
        self.row(invoice_id).get_by_role("button", name="Pay Now").click()
        checkout = self.page.frame_locator("#payment iframe")
        expect(checkout.locator("#pay")).to_be_visible()
        return checkout

    def notice(self) -> Locator:
        return self.page.locator("#notice")

    def screenshot(self, name: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=SCREENSHOTS / f"{name}.png")


@contextmanager
def open_portal(stack: RunningStack, browser: Browser) -> Iterator[Portal]:
    """A fresh browser context on the seeded stack: seed rows reset, webhook delivery on. On leaving, no uncaught
    JavaScript error and no request off this machine."""
    engine = create_database_engine(stack.stack["environment"]["DATABASE_URL"])
    try:
        seed.seed(engine)
    finally:
        engine.dispose()
    stack.stripe("POST", "/local/webhooks", {"enabled": True})
    context = browser.new_context(locale="en-US", timezone_id="UTC", viewport={"width": 1100, "height": 720})
    page = context.new_page()
    portal = Portal(page, stack)
    page.on("request", lambda request: portal.requests.append(request.url))
    page.on("pageerror", lambda error: portal.errors.append(str(error)))
    try:
        yield portal
    finally:
        context.close()
    assert portal.errors == [], portal.errors
    outside = [url for url in portal.requests if urlsplit(url).scheme != "data"
               and urlsplit(url).hostname not in LOCAL_HOSTS]
    assert outside == [], f"requests that left this machine: {outside}"


@pytest.fixture
def portal(stack: RunningStack, browser: Browser) -> Iterator[Portal]:
    with open_portal(stack, browser) as opened:
        yield opened

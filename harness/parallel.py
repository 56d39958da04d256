"""Run handler invocations in separate processes (spawned, like separate Lambda containers), each with its own
engine, firebase-admin app and Stripe client, against the same PostgreSQL and Stripe double."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from multiprocessing.pool import Pool
from typing import Any

from google_double.certificates import google_certificate_endpoint
from harness.events import decode
from harness.functions import Functions, load_all

_functions: Functions | None = None
_SERVICE_PREFIXES = ("DATABASE_", "FIREBASE_", "STRIPE_", "PORTAL_", "POWERTOOLS_", "RECONCILE_", "LOG_LEVEL",
                     "MISMATCHED_PAYMENT_POLICY", "EMAIL_", "SES_", "NOTIFICATION_")


def _init_worker(environment: dict[str, str], certificates: dict[str, str]) -> None:
    global _functions
    os.environ.update(environment)
    google_certificate_endpoint(certificates)
    _functions = load_all()


def invoke(job: tuple[str, dict[str, Any]]) -> tuple[int, Any]:
    """In a worker: ("list_invoices" | "create_checkout" | "verify_session" | "stripe_webhook" | "reconcile" |
    "notifier", event) -> (status, body). A scheduled function answers its report, taken as a 200."""
    function_name, event = job
    assert _functions is not None, "invoke runs in a worker_pool process"
    handler = getattr(_functions, function_name)
    if function_name in ("reconcile", "notifier"):
        return 200, handler(event, None)
    return decode(handler(event, None))


def invoke_named(job: tuple[str, dict[str, Any]]) -> tuple[str, int, Any]:
    return (job[0], *invoke(job))


@contextmanager
def worker_pool(certificates: dict[str, str], processes: int = 4) -> Iterator[Pool]:
    """`processes` spawned workers configured like this process (its service environment variables), with
    Google's certificates answered in each."""
    environment = {k: v for k, v in os.environ.items() if k.startswith(_SERVICE_PREFIXES)}
    context = multiprocessing.get_context("spawn")
    with context.Pool(processes, initializer=_init_worker, initargs=(environment, certificates)) as pool:
        yield pool


def invoke_in_processes(
    jobs: Iterable[tuple[str, dict[str, Any]]], certificates: dict[str, str], processes: int = 4
) -> list[tuple[int, Any]]:
    """Invoke the jobs across `processes` workers; the decoded responses, in the order given."""
    with worker_pool(certificates, processes) as pool:
        return pool.map(invoke, list(jobs), chunksize=1)

"""Run handler invocations in separate processes (spawned, like separate Lambda containers), each with its own
engine, firebase-admin app and Stripe client, against the same PostgreSQL and Stripe double."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterable
from typing import Any

from tests.doubles.firebase_tokens import google_certificate_endpoint
from tests.support.events import decode
from tests.support.functions import Functions, load_all

_functions: Functions | None = None


def _init_worker(environment: dict[str, str], certificates: dict[str, str]) -> None:
    global _functions
    os.environ.update(environment)
    google_certificate_endpoint(certificates)
    _functions = load_all()


def _invoke(job: tuple[str, dict[str, Any]]) -> tuple[int, Any]:
    function_name, event = job
    assert _functions is not None
    return decode(getattr(_functions, function_name)(event, None))


def invoke_in_processes(
    jobs: Iterable[tuple[str, dict[str, Any]]], certificates: dict[str, str], processes: int = 4
) -> list[tuple[int, Any]]:
    """Invoke ("list_invoices" | "create_checkout" | "verify_session" | "stripe_webhook", event) jobs across
    `processes` worker processes, in the order given; returns the decoded responses in the same order."""
    environment = {k: v for k, v in os.environ.items() if k.startswith(("DATABASE_", "FIREBASE_", "STRIPE_",
                                                                          "PORTAL_", "POWERTOOLS_", "RECONCILE_"))}
    context = multiprocessing.get_context("spawn")
    with context.Pool(processes, initializer=_init_worker, initargs=(environment, certificates)) as pool:
        return pool.map(_invoke, list(jobs), chunksize=1)

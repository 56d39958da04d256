"""Invoices from a proposal's payment schedule (POST /api/admin/proposals/{proposalId}/invoices).

`issue_invoices` is the one place an invoice is created: it runs in the caller's transaction, so whatever must
happen when an invoice is issued (its audit row, the outbox rows that tell the company's contacts) is written with
it or not at all.

Each schedule entry is an amount, or a percentage of the request's `total`, in a currency, with its trigger, week,
due date and description. Everything is checked before anything is written, and every reason is named (422):
percentages that do not add up to 100, amounts Stripe cannot charge in their currency (never rounded), dates in
the past, an unknown proposal. Idempotent per (proposal, paymentScheduleId): an entry whose invoice exists is
answered with that invoice, and nothing new is made for it. Creations of a year run one after another on the year's
invoice number counter (billing/repository/invoice_numbers.py), which also makes the idempotency check safe when
the same schedule is sent twice at once.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import Connection

from billing.audit import record_change
from billing.auth import StaffMember
from billing.errors import BadRequest, Unprocessable, UnsupportedAmount
from billing.money import check_chargeable, normalize_currency
from billing.outbox import note_invoice_issued
from billing.repository import invoice_numbers
from billing.repository.invoices import InvoiceRecord, insert_invoice, invoices_of_schedule
from billing.repository.proposals import proposal_exists
from billing.repository.sql import utc_now
from billing.staff_views import invoice_view

MAX_ENTRIES = 100
_TEXT_LIMIT = 500
_HUNDRED = Decimal(100)


@dataclass(frozen=True)
class ScheduleEntry:
    payment_schedule_id: str
    amount: Decimal
    currency: str
    trigger: str | None
    week: int | None
    due_date: datetime | None
    description: str | None


def parse_schedule(body: Mapping[str, Any], *, today: date) -> list[ScheduleEntry]:
    """The schedule of a request body, every entry checked; Unprocessable names every problem at once."""
    entries = body.get("schedule")
    if not isinstance(entries, list) or not entries or len(entries) > MAX_ENTRIES:
        raise BadRequest(f"schedule must be a list of 1 to {MAX_ENTRIES} entries")
    total = body.get("total")
    reasons: list[str] = []
    parsed: list[ScheduleEntry] = []
    percentages: list[Decimal] = []
    for position, entry in enumerate(entries):
        if not isinstance(entry, Mapping):
            raise BadRequest(f"schedule[{position}] must be an object")
        problems: list[str] = []
        result = _entry(entry, total, today, problems, percentages)
        reasons += [f"schedule[{position}]: {problem}" for problem in problems]
        if result is not None:
            parsed.append(result)
    added = sum(percentages, Decimal(0))
    if percentages and added != _HUNDRED:
        reasons.append(f"percentages add up to {added.normalize():f}, not 100")
    ids = [entry.get("paymentScheduleId") for entry in entries if isinstance(entry, Mapping)]
    if len(set(map(str, ids))) != len(ids):
        reasons.append("paymentScheduleId values must be unique within a schedule")
    if reasons:
        raise Unprocessable("schedule refused; nothing was created", reasons)
    return parsed


def _entry(entry: Mapping[str, Any], total: Any, today: date, problems: list[str],
           percentages: list[Decimal]) -> ScheduleEntry | None:
    schedule_id = _text(entry, "paymentScheduleId", problems, required=True)
    currency = _currency(entry.get("currency"), problems)
    amount = _amount(entry, total, problems, percentages)
    if amount is not None and currency is not None:
        try:
            check_chargeable(amount, currency)
        except UnsupportedAmount as error:
            problems.append(error.message)
    week = entry.get("week")
    if week is not None and (not isinstance(week, int) or isinstance(week, bool) or not 0 <= week <= 1000):
        problems.append("week must be a whole number from 0 to 1000")
    due = _due_date(entry.get("dueDate"), today, problems)
    trigger = _text(entry, "trigger", problems)
    description = _text(entry, "description", problems)
    if problems or schedule_id is None or amount is None or currency is None:
        return None
    return ScheduleEntry(schedule_id, amount, currency, trigger, week, due, description)


def _text(entry: Mapping[str, Any], name: str, problems: list[str], *, required: bool = False) -> str | None:
    value = entry.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > _TEXT_LIMIT or not value.isprintable():
        problems.append(f"{name} must be a non-empty text of at most {_TEXT_LIMIT} characters")
        return None
    return value


def _currency(value: Any, problems: list[str]) -> str | None:
    try:
        return normalize_currency(value if isinstance(value, str) else "")
    except UnsupportedAmount:
        problems.append("currency must be an ISO 4217 code (e.g. USD)")
        return None


def _decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, (int, Decimal, str)):
        return None
    try:
        number = Decimal(value)
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _amount(entry: Mapping[str, Any], total: Any, problems: list[str], percentages: list[Decimal]) -> Decimal | None:
    has_amount, has_percentage = entry.get("amount") is not None, entry.get("percentage") is not None
    if has_amount == has_percentage:
        problems.append("give either amount or percentage")
        return None
    if has_amount:
        amount = _decimal(entry["amount"])
        if amount is None or amount <= 0:
            problems.append("amount must be a positive number")
        return amount if amount is not None and amount > 0 else None
    percentage, base = _decimal(entry["percentage"]), _decimal(total)
    if percentage is None or not 0 < percentage <= _HUNDRED:
        problems.append("percentage must be a number above 0 and at most 100")
        return None
    percentages.append(percentage)
    if base is None or base <= 0:
        problems.append("a percentage needs the request's total, a positive number")
        return None
    return base * percentage / _HUNDRED


def _due_date(value: Any, today: date, problems: list[str]) -> datetime | None:
    if value is None:
        return None
    try:
        if not isinstance(value, str):
            raise ValueError
        if len(value) == 10:
            due = datetime.combine(date.fromisoformat(value), time(), UTC)
        else:
            due = datetime.fromisoformat(value.replace("Z", "+00:00"))
            if due.tzinfo is None:
                raise ValueError
            due = due.astimezone(UTC)
    except ValueError:
        problems.append("dueDate must be a date (2026-12-31) or a time with its offset")
        return None
    if due.date() < today:
        problems.append(f"dueDate {value} is in the past")
        return None
    return due


def create_invoices_from_schedule(conn: Connection, staff: StaffMember, proposal_id: str,
                                  schedule: Sequence[ScheduleEntry]) -> tuple[list[dict[str, Any]], int]:
    """The invoices of `schedule` (existing ones as they are, new ones issued), and how many were new."""
    now = utc_now()
    invoice_numbers.lock_year(conn, now.year)  # first: creations of the year run one after another from here
    if not proposal_exists(conn, proposal_id):
        raise Unprocessable("schedule refused; nothing was created", [f"unknown proposal {proposal_id}"])
    existing = invoices_of_schedule(conn, proposal_id, [entry.payment_schedule_id for entry in schedule])
    new = [entry for entry in schedule if entry.payment_schedule_id not in existing]
    numbers = invoice_numbers.allocate(conn, now.year, len(new)) if new else []
    issued = {entry.payment_schedule_id: issue_invoice(conn, staff, proposal_id, entry, number)
              for entry, number in zip(new, numbers, strict=True)}
    answer = [invoice_view(existing.get(entry.payment_schedule_id) or issued[entry.payment_schedule_id])
              for entry in schedule]
    return answer, len(new)


def issue_invoice(conn: Connection, staff: StaffMember, proposal_id: str, entry: ScheduleEntry,
                  invoice_number: str) -> InvoiceRecord:
    """The one place an invoice is created, in the caller's transaction: the row, its audit record and the outbox
    rows announcing it (an invoice answered again for a repeated schedule is not issued again, so not announced)."""
    created = insert_invoice(conn, {
        "id": uuid.uuid4().hex, "proposalId": proposal_id, "invoiceNumber": invoice_number,
        "amount": entry.amount, "currency": entry.currency, "description": entry.description,
        "paymentScheduleId": entry.payment_schedule_id, "week": entry.week, "trigger": entry.trigger,
        "dueDate": entry.due_date,
    })
    record_change(conn, staff, "invoice.created", created, before=None, after=created)
    note_invoice_issued(conn, created.id)
    return created

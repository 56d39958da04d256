"""Test data written the way the portal writes it: plain INSERTs naming only the seed's columns."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, insert, text, update

from billing.schema import invoice as invoice_table

_numbers = itertools.count(1)


@dataclass(frozen=True)
class Contact:
    id: str
    uid: str
    company_id: str


@dataclass(frozen=True)
class Company:
    id: str
    proposal_id: str


class World:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _insert(self, sql: str, **params: object) -> None:
        with self.engine.begin() as conn:
            conn.execute(text(sql), params)

    def company(self, name: str = "Acme") -> Company:
        n = next(_numbers)
        company_id, proposal_id = f"co_{n}", f"pr_{n}"
        self._insert('INSERT INTO "Company" (id, name) VALUES (:id, :name)', id=company_id, name=name)
        self._insert('INSERT INTO "Proposal" (id, "companyId") VALUES (:id, :company)', id=proposal_id,
                     company=company_id)
        return Company(company_id, proposal_id)

    def contact(self, company: Company | None, email: str | None = None) -> Contact:
        n = next(_numbers)
        contact = Contact(f"ct_{n}", f"uid-{n}", company.id if company else "")
        self._insert(
            'INSERT INTO "Contact" (id, "firebaseUid", email, "contactCompanyId") VALUES (:id, :uid, :email, :co)',
            id=contact.id, uid=contact.uid, email=email or f"contact{n}@example.test",
            co=company.id if company else None,
        )
        return contact

    def invoice(
        self, company: Company, amount: str = "500.00", currency: str = "USD", status: str | None = None,
        due: str | None = None, description: str | None = "Phase 1",
    ) -> str:
        """An invoice of the company's proposal, naming the seed's columns only (the rest are the database's
        defaults), written through the schema's column types so that the same call works on PostgreSQL and SQLite
        (which has no timestamptz to cast to, and whose driver takes no Decimal)."""
        n = next(_numbers)
        invoice_id = f"inv_{n}"
        with self.engine.begin() as conn:
            conn.execute(insert(invoice_table).values(
                id=invoice_id, proposalId=company.proposal_id, invoiceNumber=f"INV-2025-{n:04d}",
                amount=Decimal(amount), currency=currency, description=description,
                dueDate=datetime.fromisoformat(due).astimezone(UTC) if due else None,
            ))
        if status:
            self._insert('UPDATE "Invoice" SET status = :status WHERE id = :id', status=status, id=invoice_id)
        return invoice_id

    def edit_invoice(self, invoice_id: str, **values: Any) -> None:
        """The portal editing an invoice (e.g. amount=Decimal("600.00")), through the schema's column types so the
        same call works on PostgreSQL and SQLite; `updatedAt` is left alone unless given, as raw SQL leaves it."""
        with self.engine.begin() as conn:
            conn.execute(update(invoice_table).where(invoice_table.c.id == invoice_id).values(**values))

    def age_invoices(self, hours: int = 1) -> None:
        """Put every invoice past reconciliation's window (RECONCILE_AFTER_MINUTES=30 in the tests)."""
        with self.engine.begin() as conn:
            conn.execute(update(invoice_table).values(updatedAt=datetime.now(UTC) - timedelta(hours=hours)))

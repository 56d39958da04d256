"""The "InvoiceNumberCounter" table: INV-YYYY-NNN numbers, unique and without gaps per year, from any number of
processes.

The year's row is locked by the first statement of an allocation (an upsert that changes nothing) and stays
locked until the transaction ends: allocations of a year run one after another, each sees the numbers the one
before committed, and a transaction rolled back gives its numbers back with its invoices. The row is created on
the year's first allocation from the highest INV-YYYY-NNN already in "Invoice" (numbers the portal wrote by hand
are never reused).
"""

from __future__ import annotations

import re

from sqlalchemy import Connection, select, update

from billing.repository.sql import dialect_insert, utc_now
from billing.schema import invoice, invoice_number_counter

_NUMBER = re.compile(r"INV-(\d{4})-(\d+)")


def lock_year(conn: Connection, year: int) -> int:
    """Lock `year`'s counter (creating it if needed) until the transaction ends; the last number allocated."""
    locked = select(invoice_number_counter.c.lastNumber).where(invoice_number_counter.c.year == year).with_for_update()
    last = conn.execute(locked).scalar()
    if last is None:
        statement = dialect_insert(conn.dialect.name)(invoice_number_counter).values(
            year=year, lastNumber=_highest_in_use(conn, year), updatedAt=utc_now())
        # Two first allocations of a year: one inserts, the other waits for it and finds the row (then locked).
        conn.execute(statement.on_conflict_do_nothing(index_elements=[invoice_number_counter.c.year]))
        last = conn.execute(locked).scalar_one()
    return int(last)


def allocate(conn: Connection, year: int, count: int) -> list[str]:
    """The next `count` numbers of `year` (its counter locked by lock_year in this transaction)."""
    last = conn.execute(
        update(invoice_number_counter).where(invoice_number_counter.c.year == year)
        .values(lastNumber=invoice_number_counter.c.lastNumber + count, updatedAt=utc_now())
        .returning(invoice_number_counter.c.lastNumber)
    ).scalar_one()
    return [format_number(year, n) for n in range(last - count + 1, last + 1)]


def format_number(year: int, number: int) -> str:
    return f"INV-{year:04d}-{number:03d}"


def _highest_in_use(conn: Connection, year: int) -> int:
    """The highest NNN of INV-`year`-NNN in "Invoice" (0 if none): read once per year, when its counter is made."""
    numbers = conn.execute(select(invoice.c.invoiceNumber)
                           .where(invoice.c.invoiceNumber.like(f"INV-{year:04d}-%"))).scalars()
    found = [int(match[2]) for n in numbers if (match := _NUMBER.fullmatch(n)) and int(match[1]) == year]
    return max(found, default=0)

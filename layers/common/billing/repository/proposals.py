"""The portal's "Proposal" table, read only."""

from __future__ import annotations

from sqlalchemy import Connection, select

from billing.schema import proposal


def proposal_exists(conn: Connection, proposal_id: str) -> bool:
    return conn.scalar(select(proposal.c.id).where(proposal.c.id == proposal_id)) is not None

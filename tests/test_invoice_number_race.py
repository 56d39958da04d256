"""Invoice numbers under concurrent creation: schedules for many proposals sent at once from several processes
(separate containers), each one also sent twice, on real PostgreSQL. Every invoice gets a number, the numbers of
the year are 1..N without a gap or a repeat, and each (proposal, paymentScheduleId) has exactly one invoice."""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime, timedelta

from harness.events import staff_request
from harness.parallel import invoke_in_processes

PROPOSALS = 12
ENTRIES = 3
SENDS = 2  # each schedule sent twice at once: the second creates nothing


def test_concurrent_creation_from_several_processes_numbers_without_gaps(world, api, token_issuer, db) -> None:
    # Given proposals of several companies, and a three-entry schedule for each, sent twice
    proposals = [world.company(f"Co {n}").proposal_id for n in range(PROPOSALS)]
    due = (datetime.now(UTC) + timedelta(days=30)).date().isoformat()
    body = {"schedule": [{"paymentScheduleId": f"payment-{k}", "amount": 100 + k, "currency": "USD",
                          "dueDate": due} for k in range(ENTRIES)]}
    token = api.staff_token()
    jobs = [("staff_invoices", staff_request("POST /api/admin/proposals/{proposalId}/invoices", token, body=body,
                                             proposalId=proposal)) for proposal in proposals for _ in range(SENDS)]
    random.Random(3).shuffle(jobs)

    # When all of them run at once in four processes
    responses = invoke_in_processes(jobs, token_issuer.certificates(), processes=4)

    # Then every request succeeded; per proposal one created its three invoices and the other answered the same
    assert {status for status, _ in responses} <= {200, 201}
    assert sum(body["created"] for _, body in responses) == PROPOSALS * ENTRIES
    rows = db('SELECT "proposalId", "paymentScheduleId", "invoiceNumber" FROM "Invoice"')
    assert len(rows) == PROPOSALS * ENTRIES
    assert len({(r["proposalId"], r["paymentScheduleId"]) for r in rows}) == PROPOSALS * ENTRIES
    year = datetime.now(UTC).year
    numbers = sorted(int(re.fullmatch(rf"INV-{year}-(\d{{3,}})", r["invoiceNumber"])[1])  # type: ignore[index]
                     for r in rows)
    assert numbers == list(range(1, PROPOSALS * ENTRIES + 1))  # unique, gap-free
    # and both answers for a proposal name the same invoices
    by_proposal: dict[str, set[tuple[str, ...]]] = {}
    for _, answer in responses:
        invoices = answer["invoices"]
        by_proposal.setdefault(invoices[0]["proposalId"], set()).add(tuple(i["id"] for i in invoices))
    assert all(len(answers) == 1 for answers in by_proposal.values())
    assert db('SELECT "lastNumber" FROM "InvoiceNumberCounter"') == [{"lastNumber": PROPOSALS * ENTRIES}]

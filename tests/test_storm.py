"""The webhook storm (harness/storm.py says what it does): 200 invoices, at least 1,000 deliveries, 20%
duplicates, in random order from four processes, with verify calls and reconciliation runs. The same with the
figures printed, any size, and a one-process baseline in the same run:

    make storm                                          # --invoices 200 --deliveries 1000 --baseline
    make storm STORM_ARGS=--drop-refunds-and-disputes

STORM_INVOICES / STORM_DELIVERIES shrink or grow it here.
"""

from __future__ import annotations

import os

import pytest

from harness.storm import Storm
from harness.transitions import transition_log as log_transitions

pytestmark = pytest.mark.storm

INVOICES = int(os.environ.get("STORM_INVOICES", "200"))
DELIVERIES = int(os.environ.get("STORM_DELIVERIES", str(5 * INVOICES)))


@pytest.fixture
def transition_log(db_engine):
    with log_transitions(db_engine):
        yield


def test_a_storm_of_duplicated_reordered_and_lost_webhooks_with_verify_and_reconciliation(
    world, api, stripe_double, functions, db_engine, token_issuer, transition_log
) -> None:
    storm = Storm(world=world, api=api, stripe=stripe_double, functions=functions, engine=db_engine,
                  issuer=token_issuer)

    report = storm.run(invoices=INVOICES, processes=4, min_deliveries=DELIVERIES)

    print("\n".join(report.lines()))
    assert report.deliveries >= DELIVERIES
    assert 0.18 <= report.duplicate_deliveries / report.deliveries <= 0.22
    assert report.lost_events > 0 and report.verify_calls >= INVOICES and report.reconcile_runs == 2
    assert report.errors == []
    assert report.wrong_states == []
    assert (report.lost_payments, report.doubled_payments, report.misattributed_payments) == (0, 0, 0)
    assert report.final_statuses["paid"] + report.final_statuses["refunded"] > 0


def test_a_storm_whose_refund_and_dispute_deliveries_are_all_dropped_ends_as_stripe_says(
    world, api, stripe_double, functions, db_engine, token_issuer, transition_log
) -> None:
    """Issue 9, case 5: every charge.refunded and charge.dispute.* delivery dropped; reconciliation reads Stripe's
    events list and every invoice, refund and dispute ends exactly as Stripe has it."""
    storm = Storm(world=world, api=api, stripe=stripe_double, functions=functions, engine=db_engine,
                  issuer=token_issuer)

    report = storm.run(invoices=INVOICES, processes=4, min_deliveries=DELIVERIES, drop_adjustment_deliveries=True)

    print("\n".join(report.lines()))
    assert report.dropped_adjustment_events > 0 and report.lost_events > 0
    assert report.webhook_outcomes.keys().isdisjoint({"refunded", "partially_refunded", "dispute_recorded"})
    assert report.recovered_events.get("refunded", 0) + report.recovered_events.get("partially_refunded", 0) > 0
    assert report.errors == []
    assert report.wrong_states == []
    assert (report.lost_payments, report.doubled_payments, report.misattributed_payments) == (0, 0, 0)
    assert report.final_statuses["refunded"] > 0

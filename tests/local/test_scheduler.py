"""The local scheduler runs what template.yaml schedules, with the event EventBridge Scheduler sends."""

from __future__ import annotations

import json

from harness.database import ROOT
from local.scheduler import scheduler_event
from local.template import Schedule, scheduled_functions


def test_the_template_schedules_reconcile_every_ten_minutes_the_inbox_retention_daily_and_the_notifier() -> None:
    assert scheduled_functions() == [
        Schedule("ReconcileFunction", "rate(10 minutes)", 600),
        Schedule("StripeEventRetentionFunction", "rate(1 day)", 86400),
        Schedule("NotifierFunction", "rate(1 minute)", 60),
    ]


def test_the_local_event_has_the_shape_of_the_sample_scheduler_event() -> None:
    sample = json.loads((ROOT / "events" / "reconcile.json").read_text())

    event = scheduler_event(scheduled_functions()[0])

    assert event.keys() == sample.keys()
    assert (event["source"], event["detail-type"], event["detail"]) == ("aws.scheduler", "Scheduled Event", {})

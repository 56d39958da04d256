"""The schedules of template.yaml, locally: each scheduled function (on AWS, EventBridge Scheduler invokes
ReconcileFunction every 10 minutes and StripeEventRetentionFunction daily) is invoked in this process, as in its
own Lambda container, with the event the scheduler sends. Locally they run on a shorter interval, so that a lost
webhook is seen recovered without a long wait; each function decides itself what is old enough to act on
(RECONCILE_AFTER_MINUTES, STRIPE_EVENT_RETENTION_DAYS).

    PYTHONPATH=layers/common:. python -m local.scheduler --every-seconds 60       (`make dev` starts it for you)
    PYTHONPATH=layers/common:. python -m local.scheduler --once                   # each scheduled function, now
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from local.api_server import stop_on_sigterm
from local.runtime import FunctionHost
from local.template import Schedule, scheduled_functions

DEFAULT_EVERY_SECONDS = 60


def scheduler_event(schedule: Schedule) -> dict[str, Any]:
    """What EventBridge Scheduler sends a Lambda target (the shape of events/reconcile.json)."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.scheduler",
        "account": "123456789012",
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": "us-east-1",
        "resources": [f"arn:aws:scheduler:us-east-1:123456789012:schedule/default/local-{schedule.function}"],
        "detail": {},
    }


def run_once(host: FunctionHost, schedules: list[Schedule]) -> None:
    for schedule in schedules:
        try:
            result = host.invoke(schedule.function, scheduler_event(schedule))
        except Exception as error:  # one failed run is reported; the next run comes all the same, as on AWS
            print(f"schedule {schedule.function} failed: {type(error).__name__}: {error}", file=sys.stderr,
                  flush=True)
        else:
            print(f"schedule {schedule.function} -> {json.dumps(result)}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Invoke template.yaml's scheduled functions on a local interval.")
    parser.add_argument("--every-seconds", type=float, default=DEFAULT_EVERY_SECONDS)
    parser.add_argument("--once", action="store_true", help="invoke each scheduled function once, then exit")
    args = parser.parse_args(argv)
    schedules = scheduled_functions()
    host = FunctionHost([schedule.function for schedule in schedules])
    host.load_all()  # a missing setting stops it at start, like a cold start
    if args.once:
        run_once(host, schedules)
        return 0
    for schedule in schedules:
        print(f"schedule {schedule.function}: {schedule.expression} on AWS, every {args.every_seconds:g} s here",
              flush=True)
    stop_on_sigterm()
    try:
        while True:
            time.sleep(args.every_seconds)
            run_once(host, schedules)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

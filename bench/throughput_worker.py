"""One of the processes delivering webhooks concurrently (bench/run.py starts four, like four warm containers).

    python -m bench.throughput_worker JOB.json RESULT.json

Loads the webhook handler, warms it with an event of its own (recorded as ignored), prints READY, waits for GO on
stdin so that all processes start together, then delivers its share, each event signed at delivery.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from bench.warm_worker import CONTEXT, load_handler, signed, summarize


def main(job_path: str, result_path: str) -> None:
    # stdout carries READY to the parent; the functions' own log lines (stdout on Lambda) go to /dev/null, or
    # a pipe nobody drains would fill up and stall this process mid-transaction, holding row locks.
    protocol = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    job = json.loads(Path(job_path).read_text())
    os.environ.update(job["environment"])
    from bench import instrument

    counters = instrument.install(job["database_port"], keep_sql=False)
    handler = load_handler(job["variant"], "stripe_webhook")
    connections_before = counters.connections
    warmup = summarize(handler(signed(job["warmup"]), CONTEXT))
    protocol.write("READY\n")
    protocol.flush()
    if sys.stdin.readline().strip() != "GO":
        raise SystemExit("no GO")
    answers: list[dict[str, Any]] = []
    started = time.time()
    for delivery in job["deliveries"]:
        answer = summarize(handler(signed(delivery["event"]), CONTEXT))
        answer["event_id"] = delivery["event_id"]
        answers.append(answer)
    finished = time.time()
    Path(result_path).write_text(json.dumps({
        "warmup": warmup, "started": started, "finished": finished, "answers": answers,
        "connections": counters.connections - connections_before,
    }))


if __name__ == "__main__":
    main(*sys.argv[1:3])

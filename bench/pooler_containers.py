"""Hundreds of Lambda containers at once, for bench/pooler.py: one process per container, one database
connection each, all released together.

    python -m bench.pooler_containers RESULTS.json < JOB.json

This process imports every function's handler (the settings the job's environment gives) and runs SnapStart's
before-snapshot hook (the engine and the Stripe client built, no connection open); then it forks one child per
container of the job, so that each starts as a container restored from a snapshot does. The children wait at a
gate until all exist, then each invokes its function with its events, one after the other as a container serves
requests, and reports each answer's status and time.
"""

from __future__ import annotations

import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.warm_worker import signed


def _serve(handler: Any, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    answers = []
    for event in events:
        began = time.perf_counter()
        try:
            response = handler(signed(event))
            status = int(response.get("statusCode", 200)) if isinstance(response, dict) else 200
        except Exception as error:  # an unhandled error is what Lambda would report as the function's error
            status, response = 0, {"error": type(error).__name__}
        answers.append({"status": status, "ms": (time.perf_counter() - began) * 1000})
    return answers


def main() -> None:
    job = json.load(sys.stdin)
    os.environ.update(job["environment"])
    from billing import db, snapstart
    from harness.functions import load_all

    functions = load_all()
    # As Lambda does with SnapStart (template.yaml) before it snapshots a version: everything a first request would
    # build without I/O is built once, no connection is open (billing/snapstart.py). Each container starts there.
    snapstart.before_snapshot()
    results = Path(tempfile.mkdtemp(prefix="i13-pooler-"))
    gate_read, gate_write = os.pipe()
    children = []
    for index, container in enumerate(job["containers"]):
        pid = os.fork()
        if pid == 0:  # the container
            os.close(gate_write)
            db.dispose(close=False)
            random.seed()
            os.read(gate_read, 1)  # returns when the gate's last writer closes it: all start together
            answers = _serve(getattr(functions, container["function"]), container["events"])
            (results / f"{index}.json").write_text(json.dumps({"function": container["function"],
                                                               "answers": answers}))
            sys.stdout.flush()  # its log lines and metrics: os._exit flushes nothing
            os._exit(0)
        children.append(pid)
    os.close(gate_read)
    os.close(gate_write)  # open the gate
    for pid in children:
        os.waitpid(pid, 0)
    reports = [json.loads((results / f"{index}.json").read_text()) for index in range(len(job["containers"]))
               if (results / f"{index}.json").exists()]
    for path in results.iterdir():
        path.unlink()
    results.rmdir()
    Path(sys.argv[1]).write_text(json.dumps(reports))  # stdout carries the functions' EMF metrics


if __name__ == "__main__":
    main()

"""A warm container, in its own process: one function of one variant, invoked in-process many times.

    python -m bench.warm_worker JOB.json RESULT.json

The job names the variant (ours: functions/<route>/app.py; naive: bench/naive/app.py), the route, the
environment, and phases run in order, each `warmup` untimed invocations then every event timed, with the SQL
statements, database wait, Stripe time and connections opened of each invocation. A job starts with the route's
rejected request (bad token, bad signature) while the process is fresh: it must open no connection.
"""

from __future__ import annotations

import gc
import importlib.util
import json
import os
import sys
import time
import types
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

CONTEXT = types.SimpleNamespace(
    function_name="bench", function_version="1", memory_limit_in_mb=512,
    invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:bench:live",
    aws_request_id="00000000-0000-4000-8000-000000000002", log_group_name="/aws/lambda/bench",
    log_stream_name="bench", get_remaining_time_in_millis=lambda: 28000)


def load_handler(variant: str, route: str) -> Any:
    """Only this route's function is imported, as in its own Lambda container."""
    if variant == "naive":
        return getattr(_load(ROOT / "bench" / "naive" / "app.py", "bench_naive_app"), route)
    return _load(ROOT / "functions" / route / "app.py", f"function_{route}").lambda_handler


def _load(path: Path, name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def signed(event: dict[str, Any], secret: str | None = None) -> dict[str, Any]:
    """Webhook events travel unsigned in the job and are signed at delivery (Stripe allows 300 s)."""
    if "unsigned_body" not in event:
        return event
    from harness.events import webhook_request
    from stripe_double.events import sign_payload

    body = event["unsigned_body"].encode()
    return webhook_request(body, sign_payload(body, secret or os.environ["STRIPE_WEBHOOK_SECRET"]))


def summarize(response: dict[str, Any]) -> dict[str, Any]:
    body = json.loads(response.get("body") or "null")
    body = body if isinstance(body, dict) else {}
    return {
        "status": response.get("statusCode"),
        "invoices": len(body["invoices"]) if "invoices" in body else None,
        "outcome": body.get("outcome") or ("duplicate" if body.get("duplicate") else None),
        "session": bool(body.get("sessionId")),
        "success": body.get("success"),
    }


def run_phase(handler: Any, events: list[dict[str, Any]], warmup: int, counters: Any) -> dict[str, Any]:
    connections_before_warmup = counters.connections
    for event in events[:warmup]:
        handler(signed(event), CONTEXT)
    warmup_connections = counters.connections - connections_before_warmup
    samples, answers = [], []
    sql_of_first: list[str] = []
    gc.collect()
    for index, event in enumerate(events[warmup:]):
        request = signed(event)
        before = counters.snapshot()
        sql_mark = len(counters.sql)
        began = time.perf_counter()
        response = handler(request, CONTEXT)
        elapsed = time.perf_counter() - began
        after = counters.snapshot()
        statements, connections, db_wait, db_writes, http_s, http_requests, db_driver = (
            a - b for a, b in zip(after, before, strict=True))
        samples.append({"ms": elapsed * 1000, "statements": statements, "connections": connections,
                        "db_wait_ms": db_wait * 1000, "db_writes": db_writes, "http_ms": http_s * 1000,
                        "http_requests": http_requests, "db_driver_ms": db_driver * 1000})
        answers.append(summarize(response))
        if index == 0:
            sql_of_first = counters.sql[sql_mark:]
        del counters.sql[:]
    return {"samples": samples, "answers": answers, "sql": sql_of_first, "warmup_connections": warmup_connections}


def main(job_path: str, result_path: str) -> None:
    job = json.loads(Path(job_path).read_text())
    os.environ.update(job["environment"])
    from bench import instrument

    counters = instrument.install(job["database_port"])
    began = time.perf_counter()
    handler = load_handler(job["variant"], job["route"])
    results: dict[str, Any] = {"import_ms": (time.perf_counter() - began) * 1000, "phases": {}}
    for phase in job["phases"]:
        results["phases"][phase["name"]] = run_phase(handler, phase["events"], phase.get("warmup", 0), counters)
    results["stripe_in_sys_modules"] = "stripe" in sys.modules
    Path(result_path).write_text(json.dumps(results))


if __name__ == "__main__":
    main(*sys.argv[1:3])

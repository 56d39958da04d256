"""One cold start, in a fresh `python -I -S -B` process (no site-packages, no bytecode written): the way Lambda
starts a function, with sys.path = the function's code + the layer (+ the Lambda runtime's boto3/botocore last).

    argv: mode (floor | observability | cold | snapstart), sys.path entries (os.pathsep-joined), target
      floor      target = comma-separated modules: the SDKs the route cannot do without
      observability  target = "<those modules>;ours|naive": the time to set up logging/tracing/metrics
      cold       target = handler attribute of the `app` module; the event on stdin
      snapstart  as cold, but the snapshot hooks run after the import (untimed, as at publish time) and the
                 after-restore hooks then run as part of the first request

Only the standard library is used before the measured import, and nothing heavier than `sys`, `os` and `time`:
the parent times from spawn to the "DONE" line, so everything here counts the same for every variant.
"""

import os
import sys
import time

started = time.perf_counter()
mode, paths, target = sys.argv[1:4]
entries = [p for p in paths.split(os.pathsep) if p]
sys.path[:0] = entries[:-1]
sys.path.append(entries[-1])  # the Lambda runtime's own packages come after the stdlib, as on Lambda

if mode == "observability":
    # What observability adds to a cold start once the route's SDKs are loaded (untimed): ours creates the
    # Powertools Logger; the seed's way Logger, Tracer (which loads the X-Ray SDK and patches libraries) and
    # Metrics.
    sdks, variant = target.split(";")
    for name in sdks.split(","):
        __import__(name)
    before = time.perf_counter()
    from aws_lambda_powertools import Logger

    Logger()
    if variant == "naive":
        from aws_lambda_powertools import Metrics, Tracer

        Tracer()
        Metrics()
    spent = time.perf_counter() - before
    sys.stdout.write("DONE\n")
    sys.stdout.write(f"RESULT import_ms={spent * 1000:.1f} modules={len(sys.modules)}\n")
    sys.stdout.flush()
    os._exit(0)

if mode == "floor":
    for name in target.split(","):
        __import__(name)
    imported = time.perf_counter()
    module_count = len(sys.modules)
    sys.stdout.write("DONE\n")
    sys.stdout.flush()
    sys.stdout.write(f"RESULT import_ms={(imported - started) * 1000:.1f} modules={module_count}\n")
    sys.stdout.flush()
    os._exit(0)

import app  # type: ignore[import-not-found]  # noqa: E402  (the function's module, first on sys.path like /var/task)

handler = getattr(app, target)
imported = time.perf_counter()
hooks_ms = 0.0
if mode == "snapstart":
    from billing import snapstart

    snapstart.before_snapshot()
    hooks_done = time.perf_counter()
    hooks_ms = (hooks_done - imported) * 1000
    imported = hooks_done
    snapstart.after_restore()

import json  # noqa: E402  (already imported by every handler: free here)
import types  # noqa: E402

event = json.loads(sys.stdin.read())
context = types.SimpleNamespace(  # what Lambda's context object carries
    function_name="bench", function_version="1", memory_limit_in_mb=512,
    invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:bench:live",
    aws_request_id="00000000-0000-4000-8000-000000000001", log_group_name="/aws/lambda/bench",
    log_stream_name="bench", get_remaining_time_in_millis=lambda: 28000)
response = handler(event, context)
served = time.perf_counter()
module_count = len(sys.modules)
sys.stdout.write("DONE\n")
sys.stdout.flush()

# A file (the invoice's PDF) comes base64-encoded: its size, not its content, is reported
body = None if response.get("isBase64Encoded") else json.loads(response.get("body") or "null")
summary = {
    "status": response.get("statusCode"),
    # never the body itself: checkout's answer carries a client secret
    "invoices": len(body["invoices"]) if isinstance(body, dict) and "invoices" in body else None,
    "outcome": body.get("outcome") if isinstance(body, dict) else None,
    "has_session": bool(isinstance(body, dict) and body.get("sessionId")),
    "file_bytes": len(response.get("body") or "") * 3 // 4 if response.get("isBase64Encoded") else None,
    "import_ms": round((imported - started) * 1000, 1),
    "first_request_ms": round((served - imported) * 1000, 1),
    "snapshot_hooks_ms": round(hooks_ms, 1),
    "modules": module_count,
    "stripe": "stripe" in sys.modules,
    "firebase_admin": "firebase_admin" in sys.modules,
    "aws_xray_sdk": "aws_xray_sdk" in sys.modules,
    "botocore": "botocore" in sys.modules,
}
sys.stdout.write("RESULT " + json.dumps(summary) + "\n")
sys.stdout.flush()
os._exit(0)

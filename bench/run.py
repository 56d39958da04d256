"""`make bench` / `python -m bench [--quick]`: every figure of docs/PERFORMANCE.md, ours and the naive baseline
measured in the same run on the local stack, then the table written with the machine and the command.

Nothing here is a test: it prints figures and the budgets they meet or miss; it fails only if a function answers
wrongly (a benchmark of wrong answers would be worthless).
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import json
import os
import platform
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bench import coldstart, report
from bench.coldstart import Start
from bench.stack import STRIPE_WEBHOOK_SECRET, LocalStack, Scenario, client_event, dumps, running_stack, webhook_body

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / ".local" / "bench"  # ignored by git: builds, downloaded runtime packages, raw results
BUILD = WORK / "build"
RUNTIME = WORK / "lambda-runtime"  # what Lambda's python3.13 runtime itself provides: boto3, botocore
XRAY = WORK / "xray"  # the baseline's tracer: Powertools' Tracer needs the X-Ray SDK
NAIVE_LAYER = WORK / "naive-layer" / "python"
REQUIREMENTS = Path(__file__).with_name("requirements.txt")

ROUTES = ("list_invoices", "create_checkout", "verify_session", "stripe_webhook")
LOGICAL_IDS = {"list_invoices": "ListInvoicesFunction", "create_checkout": "CreateCheckoutFunction",
               "verify_session": "VerifySessionFunction", "stripe_webhook": "StripeWebhookFunction"}
# The SDKs each route cannot do without, as the route must load them to use them: its cold-start floor.
# SQLAlchemy talks to PostgreSQL only through its PostgreSQL dialect (create_engine loads it for any such URL);
# `import stripe` alone loads almost nothing since the SDK went lazy: the client class, or the webhook signature
# check, is what a route uses.
_SQL = "sqlalchemy,sqlalchemy.dialects.postgresql.pg8000,pg8000"
FLOORS = {
    "list_invoices": f"firebase_admin.auth,{_SQL}",
    "create_checkout": f"firebase_admin.auth,{_SQL},stripe,stripe._stripe_client",
    "verify_session": f"firebase_admin.auth,{_SQL},stripe,stripe._stripe_client",
    "stripe_webhook": f"stripe,stripe._webhook,{_SQL}",
}
# The same SDKs' top-level imports alone (the floor of earlier runs), reported beside it.
BARE_FLOORS = {
    "list_invoices": "firebase_admin.auth,sqlalchemy,pg8000",
    "create_checkout": "firebase_admin.auth,sqlalchemy,pg8000,stripe",
    "verify_session": "firebase_admin.auth,sqlalchemy,pg8000,stripe",
    "stripe_webhook": "stripe,sqlalchemy,pg8000",
}
# What Lambda sets in every execution environment (the X-Ray SDK and Powertools read these).
LAMBDA_ENVIRONMENT = {
    "AWS_LAMBDA_FUNCTION_NAME": "bench",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
    "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
    "LAMBDA_TASK_ROOT": "/var/task",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "_X_AMZN_TRACE_ID": "Root=1-6773a1c0-0123456789abcdef01234567;Parent=53995c3f42cd8ad8;Sampled=1",
    "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
    "PATH": "/usr/bin:/bin",
}


@dataclass(frozen=True)
class Plan:
    cold_runs: int
    warmup: int
    iterations: int
    naive_iterations: int  # the baseline is slow (a connection per request): fewer, enough for its p50 and p99
    distinct_events: int  # webhook throughput: distinct events ...
    duplicates: int  # ... plus this many re-deliveries
    processes: int = 4


FULL = Plan(cold_runs=11, warmup=50, iterations=1000, naive_iterations=300, distinct_events=1500, duplicates=500)
QUICK = Plan(cold_runs=3, warmup=20, iterations=200, naive_iterations=100, distinct_events=300, duplicates=100)


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


# ----- artifacts -------------------------------------------------------------------------


def ensure_packages() -> None:
    """The Lambda runtime's own packages and the baseline's X-Ray SDK, installed once under .local/bench."""
    pins = dict(line.split("==") for line in REQUIREMENTS.read_text().splitlines()
                if line and not line.startswith("#"))
    wanted = {RUNTIME: [f"boto3=={pins['boto3']}"],
              XRAY: [f"aws-xray-sdk=={pins['aws-xray-sdk']}", f"wrapt=={pins['wrapt']}", "--no-deps"]}
    for target, packages in wanted.items():
        if (target / ".installed").read_text().split() == packages if (target / ".installed").exists() else False:
            continue
        log(f"installing {' '.join(packages)} into {target.relative_to(ROOT)}")
        shutil.rmtree(target, ignore_errors=True)
        completed = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                                    "--target", str(target), *packages], capture_output=True, text=True, check=False,
                                   env=_without_pythonpath())
        if completed.returncode != 0:
            raise SystemExit(f"pip install failed:\n{completed.stderr[-4000:]}")
        (target / ".installed").write_text(" ".join(packages))


def _without_pythonpath() -> dict[str, str]:
    return {name: value for name, value in os.environ.items() if name != "PYTHONPATH"}


def sam_build() -> None:
    log("sam build (layer and functions, as deployed) ...")
    # Not the tools' PYTHONPATH (`make bench` sets it for this process): the build sees only what it installs.
    environment = {**_without_pythonpath(), "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ['PATH']}",
                   "PYENV_VERSION": "3.13.0", "SAM_CLI_TELEMETRY": "0", "AWS_DEFAULT_REGION": "us-east-1"}
    began = time.perf_counter()
    completed = subprocess.run([str(ROOT / ".venv" / "bin" / "sam"), "build", "--build-dir", str(BUILD),
                                "--cache-dir", str(WORK / "cache"), "--cached"],
                               cwd=ROOT, env=environment, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise SystemExit(f"sam build failed:\n{completed.stdout[-4000:]}\n{completed.stderr[-4000:]}")
    log(f"sam build done in {time.perf_counter() - began:.0f} s")


def make_naive_layer() -> None:
    """The baseline's layer: the same packages the default `sam build` way (no bytecode), plus the X-Ray SDK."""
    shutil.rmtree(NAIVE_LAYER.parent, ignore_errors=True)
    shutil.copytree(BUILD / "CommonLayer" / "python", NAIVE_LAYER, ignore=shutil.ignore_patterns("__pycache__"))
    for entry in XRAY.iterdir():
        if entry.name not in (".installed", "bin") and not entry.name.endswith("-stubs"):
            destination = NAIVE_LAYER / entry.name
            if entry.is_dir():
                shutil.copytree(entry, destination, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy2(entry, destination)


def directory_sizes(path: Path) -> dict[str, int]:
    """Bytes on disk (unzipped) and as a deflated zip (what Lambda stores and counts)."""
    files = [f for f in sorted(path.rglob("*")) if f.is_file()]
    if path.is_relative_to(ROOT / "bench"):  # a source directory: what would be packaged, not local bytecode
        files = [f for f in files if "__pycache__" not in f.parts]
    unzipped = sum(f.stat().st_size for f in files)
    with tempfile.TemporaryFile() as handle:
        with zipfile.ZipFile(handle, "w", zipfile.ZIP_DEFLATED) as archive:
            for f in files:
                archive.write(f, f.relative_to(path))
        zipped = handle.tell()
    return {"unzipped": unzipped, "zipped": zipped, "files": len(files)}


def measure_sizes() -> dict[str, Any]:
    sizes = {"layer": {"ours": directory_sizes(BUILD / "CommonLayer"),
                       "naive": directory_sizes(NAIVE_LAYER.parent)}}
    for route in ROUTES:
        sizes[route] = {"ours": directory_sizes(BUILD / LOGICAL_IDS[route]),
                        "naive": directory_sizes(ROOT / "bench" / "naive")}
    return sizes


# ----- data --------------------------------------------------------------------------------


class Pool:
    """Hands out the scenario's invoices and events in order, each to one request only (per database)."""

    def __init__(self, items: list[Any]) -> None:
        self.items, self.next = items, 0

    def take(self, count: int) -> list[Any]:
        if self.next + count > len(self.items):
            raise SystemExit(f"scenario too small: wanted {count} more of {len(self.items)}")
        taken = self.items[self.next:self.next + count]
        self.next += count
        return taken


def unsigned_webhook(event: dict[str, Any]) -> dict[str, Any]:
    return {"unsigned_body": webhook_body(event)}


def functions_environment(stack: LocalStack, database: str) -> dict[str, str]:
    return {**stack.environment(database), **LAMBDA_ENVIRONMENT}


# ----- cold starts --------------------------------------------------------------------------


def measure_cold_starts(stack: LocalStack, scenario: Scenario, plan: Plan, pools: dict[str, dict[str, Pool]]
                        ) -> dict[str, Any]:
    layer = str(BUILD / "CommonLayer" / "python")
    results: dict[str, Any] = {}
    for route in ROUTES:
        function_dir = str(BUILD / LOGICAL_IDS[route])
        ours_env = functions_environment(stack, "ours")
        naive_env = functions_environment(stack, "naive")
        starts = {
            "floor": (Start("floor", (function_dir, layer, str(RUNTIME)), FLOORS[route], ours_env), lambda _: None),
            "floor_bare": (Start("floor", (function_dir, layer, str(RUNTIME)), BARE_FLOORS[route], ours_env),
                           lambda _: None),
            "ours": (Start("cold", (function_dir, layer, str(RUNTIME)), "lambda_handler", ours_env),
                     first_requests(stack, scenario, route, pools["ours"], plan.cold_runs)),
            "snapstart": (Start("snapstart", (function_dir, layer, str(RUNTIME)), "lambda_handler", ours_env),
                          first_requests(stack, scenario, route, pools["ours"], plan.cold_runs)),
            "naive": (Start("cold", (str(ROOT / "bench" / "naive"), str(NAIVE_LAYER), str(RUNTIME)), route,
                            naive_env),
                      first_requests(stack, scenario, route, pools["naive"], plan.cold_runs)),
            # the baseline's code on our layer (with bytecode): how much of the difference is the packaging
            "naive_bytecode": (Start("cold", (str(ROOT / "bench" / "naive"), layer, str(XRAY), str(RUNTIME)), route,
                                     naive_env),
                               first_requests(stack, scenario, route, pools["naive"], plan.cold_runs)),
            "observability_ours": (Start("observability", (function_dir, layer, str(RUNTIME)),
                                         f"{FLOORS[route]};ours", ours_env), lambda _: None),
            "observability_naive": (Start("observability", (str(ROOT / "bench" / "naive"), str(NAIVE_LAYER),
                                                            str(RUNTIME)), f"{FLOORS[route]};naive", naive_env),
                                    lambda _: None),
        }
        log(f"cold starts: {route} ({plan.cold_runs} runs each of floor, ours, ours after SnapStart restore, naive)")
        runs = coldstart.interleaved(starts, plan.cold_runs, functools.partial(check_cold, route))
        results[route] = {
            name: {
                "total_ms": coldstart.median(rs, "total_ms"),
                "cpu_ms": coldstart.median(rs, "cpu_ms"),
                "import_ms": coldstart.median(rs, "import_ms"),
                "first_request_ms": coldstart.median(rs, "first_request_ms") if "first_request_ms" in rs[0] else None,
                "modules": int(coldstart.median(rs, "modules")),
                "runs_ms": [round(r["total_ms"], 1) for r in rs],
                "sdks": {k: rs[0].get(k) for k in ("stripe", "firebase_admin", "aws_xray_sdk", "botocore")},
                "cpu_ms_runs": [round(r["cpu_ms"], 1) for r in rs],
            } for name, rs in runs.items()
        }
        example = first_requests(stack, scenario, route, pools["ours"], 1)(0)
        results[route]["ours"]["import_breakdown"] = coldstart.import_breakdown(starts["ours"][0], example)
        naive_example = first_requests(stack, scenario, route, pools["naive"], 1)(0)
        results[route]["naive"]["import_breakdown"] = coldstart.import_breakdown(starts["naive"][0], naive_example)
    return results


def first_requests(stack: LocalStack, scenario: Scenario, route: str, pools: dict[str, Pool], runs: int
                   ) -> Callable[[int], dict[str, Any]]:
    """A first request per run: each checkout and webhook its own invoice, as a real first request would be."""
    if route == "list_invoices":
        events = [client_event(stack, route, scenario.list_payer)] * runs
    elif route == "create_checkout":
        events = [client_event(stack, route, payer, invoiceId=invoice) for payer, invoice in
                  pools["checkout"].take(runs)]
    elif route == "verify_session":
        events = [client_event(stack, route, c.payer, invoiceId=c.invoice_id, sessionId=c.session_id)
                  for c in (scenario.verify_open[n % len(scenario.verify_open)] for n in range(runs))]
    else:
        events = [unsigned_webhook(e) for e in pools["webhook"].take(runs)]

    def event_for(run: int) -> dict[str, Any]:
        from bench.warm_worker import signed

        return signed(events[run], STRIPE_WEBHOOK_SECRET)

    return event_for


def check_cold(route: str, name: str, result: dict[str, Any]) -> None:
    if name.startswith(("floor", "observability")):
        return
    expected = {"list_invoices": result.get("invoices") == 50, "create_checkout": result.get("has_session"),
                "verify_session": result.get("status") == 200, "stripe_webhook": result.get("outcome") == "paid"}
    if result.get("status") != 200 or not expected[route]:
        raise SystemExit(f"cold start of {route} ({name}) answered wrongly: {result}")


# ----- warm paths ------------------------------------------------------------------------------


def warm_jobs(stack: LocalStack, scenario: Scenario, plan: Plan, pools: dict[str, Pool], variant: str
              ) -> dict[str, list[dict[str, Any]]]:
    total = plan.warmup + (plan.naive_iterations if variant == "naive" else plan.iterations)
    list_event = client_event(stack, "list_invoices", scenario.list_payer)
    bad_token = dict(list_event, headers={**list_event["headers"], "authorization": "Bearer not-a-token"})
    checkouts = [client_event(stack, "create_checkout", p, invoiceId=i) for p, i in pools["checkout"].take(total)]
    verify_open = [client_event(stack, "verify_session", c.payer, invoiceId=c.invoice_id, sessionId=c.session_id)
                   for c in (scenario.verify_open[n % len(scenario.verify_open)] for n in range(total))]
    verify_paid = [client_event(stack, "verify_session", c.payer, invoiceId=c.invoice_id, sessionId=c.session_id)
                   for c in scenario.verify_paid]
    webhooks = [unsigned_webhook(e) for e in pools["webhook"].take(total)]
    bad_signature = {"unsigned_body": webhooks[0]["unsigned_body"], "bad_signature": True}
    return {
        "list_invoices": [
            {"name": "rejected", "events": [bad_token]},
            {"name": "list", "events": [list_event] * total, "warmup": plan.warmup},
        ],
        "create_checkout": [
            {"name": "rejected", "events": [dict(checkouts[0], headers={**checkouts[0]["headers"],
                                                                        "authorization": "Bearer x.y.z"})]},
            {"name": "checkout_new", "events": checkouts, "warmup": plan.warmup},
            {"name": "checkout_reuse", "events": checkouts[plan.warmup:plan.warmup + 10]},
            {"name": "checkout_first", "events": [client_event(stack, "create_checkout", p, invoiceId=i)
                                                  for p, i in scenario.first_checkouts]},
        ],
        "verify_session": [
            {"name": "rejected", "events": [dict(verify_open[0], headers={**verify_open[0]["headers"],
                                                                          "authorization": "Bearer x.y.z"})]},
            {"name": "verify_open", "events": verify_open, "warmup": plan.warmup},
            {"name": "verify_paid", "events": verify_paid},
        ],
        "stripe_webhook": [
            {"name": "rejected", "events": [bad_signature]},
            {"name": "webhook", "events": webhooks, "warmup": plan.warmup},
            {"name": "webhook_duplicate", "events": webhooks[plan.warmup:plan.warmup + 10]},
        ],
    }


def run_worker(module: str, job: dict[str, Any], variant: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-job-") as directory:
        job_path, result_path = Path(directory, "job.json"), Path(directory, "result.json")
        job_path.write_text(dumps(job))
        completed = subprocess.run([sys.executable, "-m", module, str(job_path), str(result_path)],
                                   cwd=ROOT, env=worker_environment(variant), stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE, text=True, check=False)
        if completed.returncode != 0:
            raise SystemExit(f"{module} ({variant}) failed:\n{completed.stderr[-4000:]}")
        return dict(json.loads(result_path.read_text()))


def worker_environment(variant: str) -> dict[str, str]:
    paths = [str(ROOT / "layers" / "common"), str(ROOT)]
    if variant == "naive":
        paths.append(str(XRAY))
    return {"PATH": os.environ["PATH"], "PYTHONPATH": os.pathsep.join(paths), "HOME": os.environ.get("HOME", "/")}


def measure_warm(stack: LocalStack, scenario: Scenario, plan: Plan, pools: dict[str, dict[str, Pool]]
                 ) -> dict[str, Any]:
    results: dict[str, Any] = {}
    port = make_url(stack.databases["ours"]).port or 5432
    jobs = {variant: warm_jobs(stack, scenario, plan, pools[variant], variant) for variant in ("ours", "naive")}
    for route in ROUTES:
        for variant in ("ours", "naive"):
            iterations = plan.naive_iterations if variant == "naive" else plan.iterations
            log(f"warm: {route} ({variant}), {iterations} timed invocations")
            phases = jobs[variant][route]
            job = {"variant": variant, "route": route, "database_port": port,
                   "environment": functions_environment(stack, variant), "phases": _with_bad_signatures(phases)}
            results.setdefault(route, {})[variant] = run_worker("bench.warm_worker", job, variant)
            check_warm(route, variant, results[route][variant])
    return results


def _with_bad_signatures(phases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A request Stripe did not sign: the real body with a signature made with another secret."""
    from bench.warm_worker import signed

    fixed = []
    for phase in phases:
        events = [signed({"unsigned_body": e["unsigned_body"]}, "whsec_not_ours") if e.get("bad_signature") else e
                  for e in phase["events"]]
        fixed.append({**phase, "events": events})
    return fixed


def check_warm(route: str, variant: str, result: dict[str, Any]) -> None:
    expected_status = {"rejected": 400 if route == "stripe_webhook" else 401}
    for name, phase in result["phases"].items():
        for answer in phase["answers"]:
            status = expected_status.get(name, 200)
            good = answer["status"] == status and {
                "list": answer["invoices"] == 50,
                "checkout_new": answer["session"],
                "checkout_reuse": answer["session"],
                "checkout_first": answer["session"],
                "verify_paid": answer["success"] is True,
                "webhook": answer["outcome"] == "paid",
                "webhook_duplicate": answer["outcome"] == "duplicate",
            }.get(name, True)
            if not good:
                raise SystemExit(f"warm {route} ({variant}) phase {name} answered wrongly: {answer}")


# ----- webhook throughput ------------------------------------------------------------------------


def measure_throughput(stack: LocalStack, plan: Plan, pools: dict[str, dict[str, Pool]]) -> dict[str, Any]:
    results = {}
    port = make_url(stack.databases["ours"]).port or 5432
    for variant in ("ours", "naive"):
        events = pools[variant]["webhook"].take(plan.distinct_events)
        deliveries = [{"event_id": e["id"], "event": unsigned_webhook(e)} for e in events]
        rng = random.Random(5)
        # Stripe re-delivers: some of these duplicates land in another process at the same moment
        deliveries += [dict(d) for d in rng.sample(deliveries, plan.duplicates)]
        rng.shuffle(deliveries)
        shares = [deliveries[n::plan.processes] for n in range(plan.processes)]
        log(f"webhook throughput ({variant}): {len(deliveries)} deliveries ({plan.duplicates} duplicates) "
            f"from {plan.processes} processes")
        results[variant] = run_throughput(stack, variant, port, shares)
        results[variant]["check"] = check_throughput(stack, variant, events, results[variant])
    return results


def run_throughput(stack: LocalStack, variant: str, port: int, shares: list[list[dict[str, Any]]]
                   ) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-throughput-") as directory:
        workers = []
        for n, share in enumerate(shares):
            warmup = {"unsigned_body": json.dumps({
                "id": f"evt_bench_warmup_{variant}_{n}", "object": "event", "type": "customer.created",
                "data": {"object": {"id": f"cus_warmup_{n}", "object": "customer", "metadata": {}}}})}
            job_path, result_path = Path(directory, f"job{n}.json"), Path(directory, f"result{n}.json")
            job_path.write_text(dumps({"variant": variant, "database_port": port, "warmup": warmup,
                                       "environment": functions_environment(stack, variant), "deliveries": share}))
            errors_path = Path(directory, f"errors{n}.txt")
            with errors_path.open("w") as errors:  # a file, not a pipe: nothing can stall on a full pipe
                process = subprocess.Popen([sys.executable, "-m", "bench.throughput_worker", str(job_path),
                                            str(result_path)], cwd=ROOT, env=worker_environment(variant),
                                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors, text=True)
            workers.append((process, result_path, errors_path))
        for process, _, errors_path in workers:
            assert process.stdout is not None
            if process.stdout.readline() != "READY\n":
                raise SystemExit(f"throughput worker failed:\n{errors_path.read_text()[-4000:]}")
        for process, _, _ in workers:
            assert process.stdin is not None
            process.stdin.write("GO\n")
            process.stdin.flush()
        outputs = []
        for process, result_path, errors_path in workers:
            process.communicate()
            if process.returncode != 0:
                raise SystemExit(f"throughput worker failed:\n{errors_path.read_text()[-4000:]}")
            outputs.append(json.loads(result_path.read_text()))
    started = min(o["started"] for o in outputs)
    finished = max(o["finished"] for o in outputs)
    answers = [a for o in outputs for a in o["answers"]]
    return {"deliveries": len(answers), "seconds": finished - started,
            "events_per_second": len(answers) / (finished - started),
            "connections": sum(o["connections"] for o in outputs), "answers": answers}


def check_throughput(stack: LocalStack, variant: str, events: list[dict[str, Any]], result: dict[str, Any]
                     ) -> dict[str, Any]:
    """Every event applied exactly once, every duplicate recognised, every invoice paid by its payer."""
    answers = result.pop("answers")
    statuses = Counter(a["status"] for a in answers)
    applied = Counter(a["event_id"] for a in answers if a["outcome"] == "paid")
    duplicates = sum(1 for a in answers if a["outcome"] == "duplicate")
    expected = {e["id"]: e["data"]["object"]["metadata"] for e in events}
    engine = create_engine(stack.databases[variant])
    with engine.connect() as conn:
        stored = conn.execute(text('SELECT id, outcome, "processedAt" IS NOT NULL AS done FROM "StripeEvent" '
                                   "WHERE id = ANY(:ids)"), {"ids": list(expected)}).mappings().all()
        invoices = conn.execute(text('SELECT id, status, "paidByContactId" FROM "Invoice" WHERE id = ANY(:ids)'),
                                {"ids": [m["invoiceId"] for m in expected.values()]}).mappings().all()
    engine.dispose()
    payer_of = {m["invoiceId"]: m["contactId"] for m in expected.values()}
    problems = []
    if set(statuses) != {200}:
        problems.append(f"statuses {dict(statuses)}")
    if set(applied) != set(expected) or any(n != 1 for n in applied.values()):
        problems.append(f"{len(applied)} of {len(expected)} events applied, some more than once: "
                        f"{sum(1 for n in applied.values() if n > 1)}")
    if duplicates != len(answers) - len(expected):
        problems.append(f"{duplicates} duplicates answered, {len(answers) - len(expected)} delivered")
    if len(stored) != len(expected) or not all(r["done"] and r["outcome"] == "paid" for r in stored):
        problems.append("inbox rows missing or not processed")
    wrong = [r["id"] for r in invoices if r["status"] != "paid" or r["paidByContactId"] != payer_of[r["id"]]]
    if len(invoices) != len(expected) or wrong:
        problems.append(f"{len(wrong)} invoices not paid by their payer")
    if problems:
        raise SystemExit(f"webhook throughput ({variant}) broke correctness: {'; '.join(problems)}")
    return {"events": len(expected), "deliveries": len(answers), "duplicates": duplicates, "ok": True}


# ----- main ---------------------------------------------------------------------------------------


def machine() -> dict[str, str]:
    model = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        model = next((line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                      if line.startswith("model name")), model)
    pg = subprocess.run(["psql", "--version"], capture_output=True, text=True, check=False).stdout.strip()
    return {"cpus": str(os.cpu_count()), "cpu": model, "python": platform.python_version(),
            "os": platform.platform(), "postgresql_client": pg or "?",
            "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer runs and iterations (a few minutes)")
    parser.add_argument("--no-build", action="store_true", help="reuse the last `sam build` under .local/bench")
    parser.add_argument("--output", default=str(ROOT / "docs" / "PERFORMANCE.md"))
    parser.add_argument("--render", action="store_true", help="only rewrite the report from the last run's figures")
    args = parser.parse_args(argv)
    if args.render:
        results = json.loads((WORK / "results.json").read_text())
        Path(args.output).write_text(report.render(results))
        print(report.console(results))
        return 0
    plan = QUICK if args.quick else FULL
    # stopped from outside (timeout, kill): still drop the databases and stop the servers
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    began = time.perf_counter()
    WORK.mkdir(parents=True, exist_ok=True)
    ensure_packages()
    if not (args.no_build and (BUILD / "CommonLayer").is_dir()):
        sam_build()
    make_naive_layer()
    sizes = measure_sizes()

    with running_stack() as stack:
        cold_invoices = 2 * plan.cold_runs + 2  # per database: ours cold and after restore, or naive twice; +2
        log("creating the Stripe side of the scenario (customers, sessions, completed sessions) ...")
        scenario = stack.build_scenario(
            checkouts=cold_invoices + plan.warmup + plan.iterations,
            webhook_events=cold_invoices + plan.warmup + plan.iterations + plan.distinct_events)
        for database in ("ours", "naive"):
            stack.seed(database, scenario)
        pools = {db: {"checkout": Pool(scenario.checkout_invoices), "webhook": Pool(scenario.webhook_events)}
                 for db in ("ours", "naive")}
        cold = measure_cold_starts(stack, scenario, plan, pools)
        warm = measure_warm(stack, scenario, plan, pools)
        throughput = measure_throughput(stack, plan, pools)
        google_fetches = stack.google.fetches

    results = {"machine": machine(), "plan": plan.__dict__, "sizes": sizes, "cold": cold, "warm": warm,
               "throughput": throughput, "google_certificate_fetches": google_fetches,
               "command": "make bench" + (" (python -m bench --quick)" if args.quick else ""),
               "seconds": time.perf_counter() - began}
    (WORK / "results.json").write_text(json.dumps(results, indent=1))
    markdown = report.render(results)
    Path(args.output).write_text(markdown)
    print(report.console(results))
    log(f"wrote {args.output} in {results['seconds']:.0f} s")
    return 0


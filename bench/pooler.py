"""`make bench-pooler`: the functions behind a transaction-pooling proxy, and without one, at several times the
database's connection limit.

    python -m bench.pooler [--containers 250] [--max-connections 50] [--requests 3]

RDS Proxy pools in transaction mode: a client's server connection is its own only for one transaction. PgBouncer
in `pool_mode = transaction` does the same, and runs here. The benchmark starts a PostgreSQL cluster of its own
(initdb, `max_connections` lowered, on a port of 21300-21399) and PgBouncer in front of it; seeds two identical
databases; and releases the same crowd of simulated Lambda containers (bench/pooler_containers.py: one process and
one connection each, every function, all at once) once through PgBouncer and once directly. It prints, side by
side: errors (any answer but 2xx), p50/p99 latency of the requests, and the most server connections in use.

What must hold under transaction pooling, and does here: nothing of a session outlives its transaction. pg8000
sends every statement with parameters as an unnamed statement (Parse/Bind/Execute) inside the transaction our
code begins first (billing/db_pg8000.py), the rest as simple queries; the session's time zone travels in the
startup message, which PgBouncer tracks and sets on whichever server connection serves the client (TimeZone is
one of its tracked parameters, as it is for RDS Proxy); the code uses no SET, advisory lock, LISTEN, temporary
table or named prepared statement (row locks and conditional UPDATEs live inside one transaction).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import text

from bench.stack import LocalStack, Scenario, client_event, webhook_body
from harness.database import migrate
from harness.events import sample
from harness.postgres_cluster import PasswordPostgres

ROOT = Path(__file__).resolve().parents[1]
PORTS = list(range(21300, 21400))  # issue 13's range on the shared machine
ROLE, ROLE_PASSWORD = "billing", "bench-pooler-only"
HTTP_FUNCTIONS = ("list_invoices", "create_checkout", "verify_session", "stripe_webhook")


class PgBouncer:
    """PgBouncer in transaction mode in front of `cluster`, run as the cluster's owner (it refuses root)."""

    def __init__(self, cluster: PasswordPostgres, databases: list[str], pool_size: int) -> None:
        self.cluster, self.databases, self.pool_size = cluster, databases, pool_size
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> PgBouncer:
        directory = self.cluster.directory
        (directory / "userlist.txt").write_text(f'"{ROLE}" "{ROLE_PASSWORD}"\n')
        for port in [p for p in PORTS if p != self.cluster.port]:
            self.port = port
            (directory / "pgbouncer.ini").write_text("\n".join([
                "[databases]",
                *(f"{name} = host=127.0.0.1 port={self.cluster.port} dbname={name}" for name in self.databases),
                "[pgbouncer]",
                "listen_addr = 127.0.0.1", f"listen_port = {port}", f"unix_socket_dir = {directory}",
                "auth_type = trust", f"auth_file = {directory / 'userlist.txt'}",
                "pool_mode = transaction", f"default_pool_size = {self.pool_size}",
                f"max_db_connections = {self.pool_size}", "max_client_conn = 5000",
                "query_wait_timeout = 120", "log_connections = 0", "log_disconnections = 0", "",
            ]))
            self.process = subprocess.Popen([pgbouncer_binary(), str(directory / "pgbouncer.ini")],
                                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=directory,
                                            **self.cluster._as)
            if _listening(port, self.process):
                return self
        raise RuntimeError("PgBouncer did not start on any port of 21300-21399")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            self.process.wait(timeout=30)


def _versions(cluster: PasswordPostgres) -> str:
    with cluster.admin().connect() as conn:
        postgres = str(conn.execute(text("SHOW server_version")).scalar_one()).split(" ")[0]
    bouncer = subprocess.run([pgbouncer_binary(), "--version"], capture_output=True, text=True, check=False)
    return f"Python {sys.version.split()[0]}, PostgreSQL {postgres}, {bouncer.stdout.splitlines()[0]}"


def pgbouncer_binary() -> str:
    found = shutil.which("pgbouncer") or ("/usr/sbin/pgbouncer" if Path("/usr/sbin/pgbouncer").exists() else None)
    if found is None:
        raise SystemExit("pgbouncer is not installed: make bench-pooler installs it (apt-get install pgbouncer)")
    return found


def _listening(port: int, process: subprocess.Popen[bytes]) -> bool:
    import socket

    for _ in range(100):
        if process.poll() is not None:
            return False
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


class ConnectionWatch:
    """The most server connections of ROLE at any moment (pg_stat_activity, every 20 ms), on the superuser's
    reserved slots."""

    def __init__(self, cluster: PasswordPostgres) -> None:
        self.engine = cluster.admin()
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        with self.engine.connect() as conn:
            while not self._stop.is_set():
                count = conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE usename = :role"),
                                     {"role": ROLE}).scalar_one()
                self.peak = max(self.peak, int(count))
                time.sleep(0.02)

    def __enter__(self) -> ConnectionWatch:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()


def containers(stack: LocalStack, scenario: Scenario, count: int, requests: int) -> list[dict[str, Any]]:
    """`count` containers: the four HTTP functions alike, plus one of each scheduled function (they run one at a
    time on AWS). Each serves `requests` events of its own."""
    per_function = (count - 2) // len(HTTP_FUNCTIONS)
    checkouts, verifies = iter(scenario.checkout_invoices), iter(scenario.verify_paid)
    webhooks = iter(scenario.webhook_events)
    crowd = [{"function": "reconcile", "events": [sample("reconcile")] * requests},
             {"function": "stripe_event_retention", "events": [sample("stripe_event_retention")] * requests}]
    for _ in range(per_function):
        lists = [client_event(stack, "list_invoices", scenario.list_payer) for _ in range(requests)]
        pays = [client_event(stack, "create_checkout", payer, invoiceId=invoice)
                for payer, invoice in (next(checkouts) for _ in range(requests))]
        checks = [client_event(stack, "verify_session", c.payer, invoiceId=c.invoice_id, sessionId=c.session_id)
                  for c in (next(verifies) for _ in range(requests))]
        deliveries = [{"unsigned_body": webhook_body(next(webhooks))} for _ in range(requests)]
        crowd += [{"function": "list_invoices", "events": lists}, {"function": "create_checkout", "events": pays},
                  {"function": "verify_session", "events": checks}, {"function": "stripe_webhook",
                                                                     "events": deliveries}]
    return crowd


def run(environment: dict[str, str], crowd: list[dict[str, Any]], cluster: PasswordPostgres) -> dict[str, Any]:
    job = json.dumps({"environment": environment, "containers": crowd})
    result_file = Path(cluster.directory) / "containers.json"
    with ConnectionWatch(cluster) as watch:
        began = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "bench.pooler_containers", str(result_file)], input=job.encode(),
                              capture_output=True, cwd=ROOT, check=False,
                              env={**os.environ, "PYTHONPATH": f"{ROOT / 'layers' / 'common'}:{ROOT}"})
        wall = time.perf_counter() - began
    if done.returncode != 0:
        raise RuntimeError(f"the containers failed: {done.stderr.decode()[-3000:]}")
    reports = json.loads(result_file.read_text())
    warnings: Counter[str] = Counter()  # the functions' log lines (JSON on stdout) at WARNING and above
    for line in done.stdout.decode().splitlines():
        if line.startswith("{") and '"level"' in line:
            try:
                entry = json.loads(line)
            except ValueError:  # two containers' lines run together
                continue
            if entry.get("level") in ("WARNING", "ERROR", "CRITICAL"):
                cause = entry.get("error") or (entry.get("exception") or "").strip().rsplit("\n", 1)[-1]
                warnings[f"{entry.get('message')} ({cause})"] += 1
    answers = [a for report in reports for a in report["answers"]]
    latencies = sorted(a["ms"] for a in answers)
    errors: dict[str, int] = {}
    for report in reports:
        failed = sum(1 for a in report["answers"] if not 200 <= a["status"] < 300)
        errors[report["function"]] = errors.get(report["function"], 0) + failed
    failed_containers = sum(1 for report in reports if any(not 200 <= a["status"] < 300 for a in report["answers"]))
    return {"requests": len(answers), "errors": sum(errors.values()), "errors_by_function": errors,
            "failed_containers": failed_containers, "containers": len(reports),
            "p50_ms": statistics.median(latencies), "p99_ms": latencies[min(len(latencies) - 1,
                                                                            int(len(latencies) * 0.99))],
            "server_connections": watch.peak, "wall_s": wall,
            "statuses": sorted({a["status"] for a in answers}), "warnings": dict(warnings.most_common(5))}


def seed(stack: LocalStack, cluster: PasswordPostgres, name: str, scenario: Scenario) -> str:
    with cluster.admin().connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" OWNER {ROLE}'))
    url = f"postgresql+pg8000://{ROLE}:{ROLE_PASSWORD}@127.0.0.1:{cluster.port}/{name}"
    migrate(url)
    stack.seed(name, scenario, url=url)
    return url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--containers", type=int, default=250)
    parser.add_argument("--max-connections", type=int, default=50)
    parser.add_argument("--requests", type=int, default=3, help="events each container serves, one after another")
    args = parser.parse_args()
    # PostgreSQL keeps superuser_reserved_connections (3) of max_connections for superusers: the functions' role
    # gets the rest. The pooler holds fewer than that, so the watch and the migrations always get in.
    usable = args.max_connections - 3
    pool_size = max(1, usable - 5)
    cluster = PasswordPostgres(settings={"max_connections": str(args.max_connections)}, ports=PORTS).start()
    stack = LocalStack().start()
    bouncer: PgBouncer | None = None
    try:
        with cluster.admin().connect() as conn:
            conn.execute(text(f"CREATE ROLE {ROLE} LOGIN PASSWORD '{ROLE_PASSWORD}'"))
        per_function = (args.containers - 2) // len(HTTP_FUNCTIONS)
        wanted = per_function * args.requests
        scenario = stack.build_scenario(checkouts=wanted, webhook_events=wanted, verify_paid=wanted)
        direct_url = seed(stack, cluster, "i13_direct", scenario)
        pooled_url = seed(stack, cluster, "i13_pooled", scenario)
        bouncer = PgBouncer(cluster, ["i13_pooled"], pool_size).start()
        versions = _versions(cluster)
        environment = stack.environment("i13_direct", direct_url) | {
            "LOG_LEVEL": "WARNING", "RECONCILE_AFTER_MINUTES": "30", "RECONCILE_BATCH_SIZE": "100",
            "STRIPE_EVENT_RETENTION_DAYS": "90", "EMAIL_FROM_ADDRESS": "billing@portal.example.test",
            "NOTIFICATION_MAX_ATTEMPTS": "3", "NOTIFICATION_BATCH_SIZE": "50"}  # every function loads: the notifier too
        crowd = containers(stack, scenario, args.containers, args.requests)
        pooled = run(environment | {"DATABASE_URL": pooled_url.replace(f":{cluster.port}/", f":{bouncer.port}/")},
                     crowd, cluster)
        direct = run(environment | {"DATABASE_URL": direct_url}, crowd, cluster)
    finally:
        if bouncer is not None:
            bouncer.stop()
        stack.stop()
        cluster.stop()
    report(args, pool_size, {"PgBouncer (transaction mode)": pooled, "direct": direct}, versions)
    if pooled["errors"]:
        raise SystemExit(f"{pooled['errors']} errors through the pooler: the code does not work behind it")


def report(args: argparse.Namespace, pool_size: int, runs: dict[str, dict[str, Any]], versions: str) -> None:
    """Print the table and write docs/POOLER.md with it, the machine and the command."""
    setup = (f"{args.containers} simulated Lambda containers at once (a process and one database connection each: "
             f"{(args.containers - 2) // len(HTTP_FUNCTIONS)} each of list_invoices, create_checkout, verify_session "
             f"and stripe_webhook, one each of reconcile and stripe_event_retention), {args.requests} requests each; "
             f"PostgreSQL `max_connections={args.max_connections}` (3 of them reserved for superusers), so "
             f"{args.containers / args.max_connections:.0f}x the connections it allows; PgBouncer "
             f"`pool_mode=transaction`, `default_pool_size={pool_size}`.")
    rows = [("", *runs), ("requests", *(str(r["requests"]) for r in runs.values())),
            ("errors (non-2xx, or a scheduled run failing)", *(str(r["errors"]) for r in runs.values())),
            ("containers with an error", *(f"{r['failed_containers']} of {r['containers']}" for r in runs.values())),
            ("p50 latency (ms)", *(f"{r['p50_ms']:.0f}" for r in runs.values())),
            ("p99 latency (ms)", *(f"{r['p99_ms']:.0f}" for r in runs.values())),
            ("server connections used (peak)", *(str(r["server_connections"]) for r in runs.values())),
            ("wall time (s)", *(f"{r['wall_s']:.1f}" for r in runs.values()))]
    table = ["| " + " | ".join(rows[0]) + " |", "|" + " --- |" * len(rows[0])]
    table += ["| " + " | ".join(row) + " |" for row in rows[1:]]
    details = []
    for name, result in runs.items():
        details.append(f"- **{name}**: errors by function {json.dumps(result['errors_by_function'])}; what the "
                       f"functions logged at WARNING and above: {json.dumps(result['warnings']) or 'nothing'}")
    command = "make bench-pooler" + (f" POOLER_ARGS=\"{' '.join(sys.argv[1:])}\"" if sys.argv[1:] else "")
    print("\n" + setup + "\n\n" + "\n".join(table) + "\n\n" + "\n".join(details))
    (ROOT / "docs" / "POOLER.md").write_text("\n".join([
        "# The database at Lambda's concurrency: through a transaction pooler, and directly", "",
        f"Measured by `{command}` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: {os.cpu_count()} CPUs, "
        f"{versions}. `bench/pooler.py` holds the code; the module docstring says what must hold for the code to work "
        "behind a transaction pooler (RDS Proxy in production, `UseRdsProxy`; PgBouncer here).", "",
        setup, "", *table, "", *details, "",
        "Each container is a process forked after SnapStart's before-snapshot hook, as Lambda restores one; all are "
        "released at once. Directly, every container beyond the server's limit is refused at login (`53300 "
        "too_many_connections`: the functions answer 503, Stripe and the portal retry) and keeps failing for as long "
        "as the first ones hold their connections, which a warm Lambda container does. Through the pooler every "
        "container keeps its own client connection, the server sees at most the pool, and each transaction waits "
        "its turn for a server connection: no error. Latencies are those of hundreds of processes sharing this "
        "machine's CPUs with the Stripe and Google doubles, not of the database: read them side by side, not as "
        "Lambda's.", "",
    ]))
    print("\nwritten: docs/POOLER.md")


if __name__ == "__main__":
    main()

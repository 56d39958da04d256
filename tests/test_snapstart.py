"""SnapStart runtime hooks: no pooled connection crosses the snapshot, the next request opens its own, and every
restored container gets its own random sequence."""

from __future__ import annotations

import random
import sys
import types

from billing import db as billing_db
from billing import snapstart
from local.template import function_definitions, load_handler


def pooled_backend_pid() -> int:
    """The PostgreSQL backend serving the function's pooled connection (the pool holds one)."""
    with billing_db.transaction() as conn:
        return int(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())


def test_before_snapshot_closes_the_pooled_connection_and_the_next_request_opens_a_fresh_one(world, api, db) -> None:
    # Given a warm function whose pool holds the connection of its last request
    alice = world.contact(world.company())
    assert api.list_invoices(alice)[0] == 200
    old_backend = pooled_backend_pid()
    assert pooled_backend_pid() == old_backend  # warm requests reuse it

    # When Lambda snapshots the function (and later restores it)
    snapstart.before_snapshot()
    snapstart.after_restore()

    # Then the connection is gone server-side and the snapshot holds none ...
    assert db("SELECT pid FROM pg_stat_activity WHERE pid = :pid", pid=old_backend) == []
    pool = billing_db.engine().pool
    assert pool.checkedin() == 0 and pool.checkedout() == 0  # type: ignore[attr-defined]
    # ... and the first request after restore opens a fresh connection, which the next ones reuse
    assert api.list_invoices(alice)[0] == 200
    new_backend = pooled_backend_pid()
    assert new_backend != old_backend
    assert pooled_backend_pid() == new_backend


def test_containers_restored_from_one_snapshot_draw_different_random_numbers() -> None:
    random.seed(20_26)
    snapshot = random.getstate()

    def restored_container(run_hook: bool) -> list[float]:
        random.setstate(snapshot)
        if run_hook:
            snapstart.after_restore()
        return [random.random() for _ in range(4)]

    # What every container restored from the snapshot would draw without the hook (the retry jitter, the log
    # sampling) ...
    from_the_snapshot = restored_container(run_hook=False)
    first, second = restored_container(run_hook=True), restored_container(run_hook=True)

    # ... is what none draws with it: each restored container has a sequence of its own
    assert from_the_snapshot not in (first, second)
    assert first != second


def lambda_runtime_library(monkeypatch) -> dict[str, list]:
    """Stands in for snapshot_restore_py, which only Lambda's managed Python runtimes ship: records what it is
    given, as the runtime would before calling the hooks."""
    registered: dict[str, list] = {"before": [], "after": []}
    library = types.SimpleNamespace(register_before_snapshot=registered["before"].append,
                                    register_after_restore=registered["after"].append)
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", library)
    return registered


def test_registering_is_a_no_op_off_lambda(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", None)  # not importable, as everywhere but Lambda
    assert snapstart.register_runtime_hooks() is False


def test_every_function_registers_the_hooks_when_its_handler_is_imported(monkeypatch) -> None:
    # Lambda only runs hooks registered while the handler module is imported
    for logical_id, (code_dir, handler) in function_definitions().items():
        registered = lambda_runtime_library(monkeypatch)
        load_handler(code_dir, handler, f"{logical_id}_snapstart")
        assert registered == {"before": [snapstart.before_snapshot], "after": [snapstart.after_restore]}, logical_id

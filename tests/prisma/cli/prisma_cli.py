"""The Prisma CLI and Prisma Client from npm (tests/prisma/node, installed by `make test-prisma` with npm ci),
run offline: the CLI on its Wasm schema engine through the pg driver adapter (tests/prisma/node/prisma.config.ts),
the Client with engineType "client" on the same adapter."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

from harness.database import ROOT, SERVER_URL, drop_database
from tests.prisma.portal import HERE, create_database, libpq_url

NODE_DIR = HERE / "node"
PRISMA = NODE_DIR / "node_modules" / ".bin" / "prisma"
PORTAL_SCHEMA = HERE / "portal_schema"
BILLING_MODELS = ROOT / "prisma" / "billing.prisma"


def node_environment(database_url: str | None, **extra: str) -> dict[str, str]:
    """Without a database of its own, a command still gets a well-formed DATABASE_URL (the server's): the schema's
    datasource names it, and the suite's own (a SQLAlchemy URL) is not one Prisma reads."""
    return {**os.environ, "NODE_OPTIONS": f"--require {NODE_DIR / 'exit_when_done.cjs'}", "CHECKPOINT_DISABLE": "1",
            "PRISMA_HIDE_UPDATE_MESSAGE": "1", "DATABASE_URL": libpq_url(database_url or SERVER_URL), **extra}


def prisma(*args: str, database_url: str | None = None, check: bool = True,
           **extra_env: str) -> subprocess.CompletedProcess[str]:
    """`prisma <args>` in tests/prisma/node; fails the test with Prisma's output unless it succeeds (check)."""
    if not PRISMA.exists():
        raise AssertionError(f"{PRISMA} is missing: `make test-prisma` installs it (npm ci in {NODE_DIR})")
    result = subprocess.run([str(PRISMA), *args], cwd=NODE_DIR, env=node_environment(database_url, **extra_env),
                            capture_output=True, text=True, timeout=180, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"prisma {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def generated_sql(schema: Path) -> str:
    """What Prisma would run to build `schema` in an empty database."""
    return prisma("migrate", "diff", "--from-empty", "--to-schema-datamodel", str(schema), "--script").stdout


def schema_folder(name: str, *, with_billing_models: bool) -> Path:
    """The portal's schema, and with `with_billing_models` the file this project ships beside it, as a portal
    adds it (a multi-file schema folder). Made inside the npm project (the CLI looks for its packages from the
    schema's folder up), under .schemas/, which git ignores."""
    where = NODE_DIR / ".schemas" / name
    shutil.rmtree(where, ignore_errors=True)
    where.mkdir(parents=True)
    portal = (PORTAL_SCHEMA / "schema.prisma").read_text()
    if with_billing_models:
        shutil.copy(BILLING_MODELS, where / "billing.prisma")
        portal = with_the_invoice_indexes(portal)
    (where / "schema.prisma").write_text(portal)
    return where


def with_the_invoice_indexes(portal_schema: str) -> str:
    """The portal's schema with the lines billing.prisma asks the portal to add to its `model Invoice` (the staff
    listing's indexes), as a portal following it does."""
    lines = [line.removeprefix("//").strip() for line in BILLING_MODELS.read_text().splitlines()
             if line.startswith("//   @@index(")]
    start = portal_schema.index("model Invoice {")
    end = portal_schema.index("\n}", start)
    return portal_schema[:end] + "".join(f"\n  {line}" for line in lines) + portal_schema[end:]


def generate_client(schema: Path) -> None:
    """`prisma generate`: Prisma Client for `schema`, into node_modules/.prisma/client. It still looks for a native
    query engine it will not use (engineType "client"): an empty placeholder stands in for it."""
    placeholder = schema / "no-native-query-engine.so.node"
    placeholder.touch()
    prisma("generate", "--schema", str(schema), PRISMA_QUERY_ENGINE_LIBRARY=str(placeholder))


def node(script: str, *args: str, database_url: str) -> Any:
    """Run one of tests/prisma/node's scripts; its JSON output."""
    result = subprocess.run(["node", script, *args], cwd=NODE_DIR, env=node_environment(database_url),
                            capture_output=True, text=True, timeout=120, check=False)
    if result.returncode != 0:
        raise AssertionError(f"node {script} failed:\n{result.stdout}\n{result.stderr}")
    return json.loads(result.stdout)


def database_built_by_prisma(sql: Path) -> str:
    """A new database (tests/prisma/portal.create_database), with `sql` run in it by `prisma db execute`."""
    url = create_database(f"billing_prisma_cli_{uuid.uuid4().hex[:10]}")
    try:
        prisma("db", "execute", "--file", str(sql), "--schema", str(PORTAL_SCHEMA), database_url=url)
    except AssertionError:
        drop_database(url)
        raise
    return url

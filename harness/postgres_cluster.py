"""A PostgreSQL cluster of our own that asks for passwords, with settings of our choosing.

The shared server on 127.0.0.1:5432 trusts local connections (any password works), so a refused password, and
so a rotated one, can only be tested on a cluster made with `initdb --auth=scram-sha-256`; the pooler benchmark
(bench/pooler.py) needs a server whose `max_connections` it lowers without touching the shared one. It runs from the
PostgreSQL server package's binaries (not on PATH: /usr/lib/postgresql/<version>/bin, or PG_BINDIR), on a free
port, with its socket and data in a temporary directory. initdb and postgres refuse to run as root, so as root
(CI) they run as the `postgres` user (or `nobody`), which owns the directory.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import URL

from local.ports import free_port

SUPERUSER = "postgres"


def server_bindir() -> Path:
    configured = os.environ.get("PG_BINDIR")
    candidates = [configured] if configured else sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda path: int(Path(path).parent.name), reverse=True)
    for candidate in candidates:
        if candidate and (Path(candidate) / "initdb").is_file():
            return Path(candidate)
    raise RuntimeError("PostgreSQL's server binaries (initdb, pg_ctl) are not installed: install the server package "
                       "(apt-get install postgresql) or set PG_BINDIR to the directory holding initdb")


class PasswordPostgres:
    """`settings`: server settings (`max_connections`...); `ports`: the ports to try, else free ones."""

    def __init__(self, settings: dict[str, str] | None = None, ports: list[int] | None = None) -> None:
        self.settings = settings or {}
        self.ports = ports
        self.bindir = server_bindir()
        self.superuser_password = secrets.token_urlsafe(16)
        self.directory = Path(tempfile.mkdtemp(prefix="billing-scram-"))
        self.port = 0
        self._admins: dict[str, Engine] = {}
        self._as: dict[str, Any] = {}
        if os.geteuid() == 0:
            try:
                account = pwd.getpwnam("postgres")
            except KeyError:
                account = pwd.getpwnam("nobody")
            self._as = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
            os.chown(self.directory, account.pw_uid, account.pw_gid)

    def _run(self, *command: str) -> None:
        result = subprocess.run(command, capture_output=True,  # noqa: S603 (the server package's own binaries)
                                 text=True, cwd=self.directory, timeout=120,
                                env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}, **self._as)
        if result.returncode != 0:
            raise RuntimeError(f"{Path(command[0]).name} failed ({result.returncode}): {result.stderr[-2000:]}")

    def start(self) -> PasswordPostgres:
        data, password_file = self.directory / "data", self.directory / "superuser-password"
        password_file.write_text(self.superuser_password)
        if self._as:
            os.chown(password_file, self._as["user"], self._as["group"])
        self._run(str(self.bindir / "initdb"), "-D", str(data), "-U", SUPERUSER, "--auth=scram-sha-256",
                  f"--pwfile={password_file}", "--no-sync", "-E", "UTF8")
        options = "".join(f" -c {name}={value}" for name, value in self.settings.items())
        candidates = self.ports or [free_port() for _ in range(3)]
        for attempt, port in enumerate(candidates):  # a free port can be taken by someone else before it is bound
            self.port = port
            try:
                self._run(str(self.bindir / "pg_ctl"), "-D", str(data), "-l", str(self.directory / "server.log"),
                          "-o", f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off"
                          + options, "-w", "-t", "60", "start")
                return self
            except RuntimeError:
                if attempt == len(candidates) - 1:
                    raise
        return self

    def stop(self) -> None:
        for engine in self._admins.values():
            engine.dispose()
        try:
            self._run(str(self.bindir / "pg_ctl"), "-D", str(self.directory / "data"), "-m", "immediate", "-w",
                      "stop")
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)

    def url(self, username: str, password: str, database: str = "postgres") -> str:
        return URL.create("postgresql+pg8000", username=username, password=password, host="127.0.0.1",
                          port=self.port, database=database).render_as_string(hide_password=False)

    def admin(self, database: str = "postgres") -> Engine:
        """The superuser's engine for `database` (one per database, kept until the cluster stops)."""
        if database not in self._admins:
            self._admins[database] = create_engine(self.url(SUPERUSER, self.superuser_password, database),
                                                   isolation_level="AUTOCOMMIT")
        return self._admins[database]

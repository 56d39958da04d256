"""Who a new database connection logs in as, and with what: the one thing about a login that changes while a
container lives.

- **The database secret** (`DATABASE_SECRET_ARN`, a direct connection): username and password as last read,
  at most secret_store.MAX_AGE_SECONDS old; RDS rotates the password every 7 days.
- **IAM database authentication** (`DATABASE_IAM_AUTH=true`, through RDS Proxy): no password anywhere. Each
  login presents an authentication token, a SigV4-signed `connect` request for this host, port and user made
  locally from the function's role credentials (`generate_db_auth_token`: no AWS call). A token is valid for
  15 minutes; one is reused for TOKEN_REUSE_SECONDS and then made anew, so none is presented near its end.

Either way, a login the server refuses (SQLSTATE 28P01 or 28000) makes `refresh()` drop what was used, and the
connection is tried once more with a fresh value (billing/db.py). With SnapStart, a token made before the
snapshot is judged by the wall clock after restore, so a restored container never presents a stale one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import cache
from typing import Any, Protocol

from billing.errors import ConfigurationError
from billing.observability import logger
from billing.settings import database_login, read_database_secret

# Tokens live 15 minutes: 10 leaves room for a clock a little off and for a login begun at the end of the reuse.
TOKEN_REUSE_SECONDS = 600


class DatabaseLogin(Protocol):
    def current(self) -> tuple[str, str]:
        """(username, password) for the next connection."""

    def refresh(self) -> None:
        """The server refused what `current()` gave: the next call gives a value read or made now."""


class SecretLogin:
    def __init__(self, secret_arn: str) -> None:
        self.secret_arn = secret_arn

    def current(self) -> tuple[str, str]:
        return database_login(read_database_secret(self.secret_arn))

    def refresh(self) -> None:
        try:
            read_database_secret(self.secret_arn, fresh=True)
        except ConfigurationError:
            logger.warning("could not read the database secret again")
        else:
            logger.info("database password refused: the database secret was read again")


class IamTokenLogin:
    def __init__(self, host: str, port: int, username: str, region: str,
                 clock: Callable[[], float] = time.time) -> None:
        self.host, self.port, self.username, self.region = host, port, username, region
        self._clock = clock
        self._token: str | None = None
        self._made_at = 0.0

    def current(self) -> tuple[str, str]:
        now = self._clock()
        if self._token is None or not 0 <= now - self._made_at < TOKEN_REUSE_SECONDS:
            self._token, self._made_at = self._make_token(), now
        return self.username, self._token

    def refresh(self) -> None:
        self._token = None
        logger.info("database login refused: a new IAM authentication token will be made")

    def _make_token(self) -> str:
        try:
            token: str = _rds_client(self.region).generate_db_auth_token(
                DBHostname=self.host, Port=self.port, DBUsername=self.username, Region=self.region)
        except Exception as error:  # no credentials in the environment, most likely: never a token in the message
            raise ConfigurationError(f"cannot make an IAM database authentication token: {type(error).__name__}"
                                     ) from None
        return token


@cache
def _rds_client(region: str) -> Any:
    """Made once per container (about as long as a Secrets Manager client): signing needs no network."""
    import boto3

    return boto3.client("rds", region_name=region)

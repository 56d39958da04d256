"""Secrets that rotate, with the functions reading them from Secrets Manager (moto) as on AWS.

The database: a role of a PostgreSQL cluster that asks for passwords (`initdb --auth=scram-sha-256`) has its
password changed mid-test (`ALTER ROLE`) and the secret updated, as RDS rotation does, in a warm container and in
one restored from a SnapStart snapshot, for both shapes of secret (one made by hand with host, port and dbname;
the RDS-managed master user secret with username and password only). Then a rolled Stripe API key (the Stripe
double answers 401 for it) and a rolled webhook signing secret.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import text

from billing import secret_store, snapstart
from harness.database import migrate
from harness.world import World
from stripe_double.events import event_payload, sign_payload
from tests.conftest import STRIPE_WEBHOOK_SECRET
from tests.support.container import new_container

ROLE = "billing_rotating"


@dataclass
class RotatingDatabase:
    """A database its own role logs in to with a password, and the Secrets Manager secret holding that login."""

    cluster: object
    name: str
    password: str
    world: World

    def set_password(self, password: str) -> None:
        with self.cluster.admin().connect() as conn:  # type: ignore[attr-defined]
            conn.execute(text(f"ALTER ROLE {ROLE} PASSWORD '{password}'"))
        self.password = password

    def payer(self):
        """A contact of a company with an invoice."""
        acme = self.world.company()
        contact = self.world.contact(acme)
        self.world.invoice(acme)
        return contact

    def drop_connections(self) -> None:
        """What the server does to a connection at a restart, a failover or an idle timeout."""
        with self.cluster.admin().connect() as conn:  # type: ignore[attr-defined]
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = :role"),
                         {"role": ROLE})
            # pg_terminate_backend only signals: wait until the backends have said goodbye, as they have by the
            # time a container that sat idle through it is invoked again
            deadline = time.monotonic() + 10
            while conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE usename = :role"),
                               {"role": ROLE}).scalar_one() and time.monotonic() < deadline:
                time.sleep(0.01)


@pytest.fixture(scope="module")
def rotating_database(password_postgres) -> Iterator[RotatingDatabase]:
    name = f"billing_rotation_{uuid.uuid4().hex[:8]}"
    password = secrets.token_urlsafe(12)
    with password_postgres.admin().connect() as conn:
        conn.execute(text(f"CREATE ROLE {ROLE} LOGIN PASSWORD '{password}'"))
        conn.execute(text(f'CREATE DATABASE "{name}" OWNER {ROLE}'))
    migrate(password_postgres.url(ROLE, password, name))
    world = World(password_postgres.admin(name))
    yield RotatingDatabase(password_postgres, name, password, world)
    password_postgres.admin(name).dispose()
    with password_postgres.admin().connect() as conn:
        conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        conn.execute(text(f"DROP ROLE {ROLE}"))


SHAPES = ["made by hand (host, port, dbname)", "RDS master user (username, password only)"]


@pytest.fixture
def database_secret(moto_secrets_manager, rotating_database, password_postgres, request):
    """The function's environment on AWS for the secret's shape, and how to rotate the secret."""
    login = {"username": ROLE, "password": rotating_database.password}
    where = {"host": "127.0.0.1", "port": password_postgres.port, "dbname": rotating_database.name}
    hand_made = request.param == SHAPES[0]
    secret = {**login, **where, "engine": "postgres"} if hand_made else login
    arn = moto_secrets_manager.create_secret(Name=f"rds!db-{uuid.uuid4().hex[:6]}",
                                             SecretString=json.dumps(secret))["ARN"]
    environment = {"DATABASE_URL": None, "DATABASE_SECRET_ARN": arn}
    if not hand_made:  # host, port and name are template parameters then
        environment |= {"DATABASE_HOST": "127.0.0.1", "DATABASE_PORT": str(password_postgres.port),
                        "DATABASE_NAME": rotating_database.name}

    def store(password: str) -> None:
        moto_secrets_manager.put_secret_value(SecretId=arn, SecretString=json.dumps({**secret, "password": password}))

    def rotate() -> None:
        """What RDS rotation does: the role's password changes, then the secret's."""
        rotating_database.set_password(secrets.token_urlsafe(12))
        store(rotating_database.password)

    return Rotation(environment, rotate, store)


@dataclass
class Rotation:
    environment: dict[str, str | None]
    rotate: Callable[[], None]
    store_in_secret: Callable[[str], None]


@pytest.fixture
def secret_reads(moto_secrets_manager) -> list[str]:
    """Every GetSecretValue the functions send (a handler on the boto3 client Powertools created for them)."""
    from aws_lambda_powertools.utilities.parameters.constants import DEFAULT_PROVIDERS

    seen: list[str] = []

    def record(params, **_kwargs) -> None:
        seen.append(params["SecretId"])

    def start() -> list[str]:
        DEFAULT_PROVIDERS["secrets"].client.meta.events.register(
            "provide-client-params.secrets-manager.GetSecretValue", record)
        seen.clear()
        return seen

    return start  # type: ignore[return-value]


def listed(api, contact) -> int:
    return api.list_invoices(contact)[0]


@pytest.mark.parametrize("database_secret", SHAPES, indirect=True)
def test_a_warm_container_logs_in_with_the_rotated_password_once_its_old_one_is_refused(
    rotating_database, database_secret, secret_reads, api, caplog
) -> None:
    alice = rotating_database.payer()
    with new_container(**database_secret.environment):
        reads = secret_reads()
        assert listed(api, alice) == 200  # warm: its pool holds a connection logged in with the first password

        database_secret.rotate()
        assert listed(api, alice) == 200  # the open connection is unaffected
        assert reads == []

        # The server drops the connection; the next one logs in with the cached, now refused, password
        rotating_database.drop_connections()
        with caplog.at_level(logging.INFO, logger="billing"):
            assert listed(api, alice) == 200

        assert len(reads) == 1  # read again once, on the refusal
        assert "database password refused: the database secret was read again" in caplog.text
        assert listed(api, alice) == 200 and len(reads) == 1


@pytest.mark.parametrize("database_secret", SHAPES, indirect=True)
def test_a_container_restored_from_a_snapshot_taken_before_the_rotation_logs_in_with_the_new_password(
    rotating_database, database_secret, secret_reads, api
) -> None:
    alice = rotating_database.payer()
    with new_container(**database_secret.environment):  # init, when the version is published: the secret is read
        reads = secret_reads()
        assert listed(api, alice) == 200
        snapstart.before_snapshot()

        # Days later, after a rotation, Lambda restores a container from that snapshot
        database_secret.rotate()
        snapstart.after_restore()

        assert listed(api, alice) == 200
        assert len(reads) == 1
        assert listed(api, alice) == 200 and len(reads) == 1  # warm again: nothing more is read


@pytest.mark.parametrize("database_secret", SHAPES[:1], indirect=True)
def test_a_password_refused_again_after_the_reread_is_503_and_not_a_loop(
    rotating_database, database_secret, secret_reads, api
) -> None:
    alice = rotating_database.payer()
    with new_container(**database_secret.environment):
        reads = secret_reads()
        assert listed(api, alice) == 200
        snapstart.before_snapshot()
        rotating_database.set_password(secrets.token_urlsafe(12))  # the secret is not updated (yet)
        snapstart.after_restore()

        assert api.list_invoices(alice) == (503, {"error": "service temporarily unavailable; try again"})
        assert len(reads) == 1  # one re-read, one more attempt: no loop

        database_secret.store_in_secret(rotating_database.password)  # the rotation completes
        assert listed(api, alice) == 200


@pytest.mark.parametrize("database_secret", SHAPES[1:], indirect=True)
def test_a_secret_older_than_its_maximum_age_is_read_again_before_logging_in(
    rotating_database, database_secret, secret_reads, api, monkeypatch, caplog
) -> None:
    monkeypatch.setattr(secret_store, "MAX_AGE_SECONDS", 1)  # 300 in production
    alice = rotating_database.payer()
    with new_container(**database_secret.environment):
        reads = secret_reads()
        snapstart.before_snapshot()
        database_secret.rotate()
        time.sleep(1.1)
        snapstart.after_restore()

        with caplog.at_level(logging.INFO, logger="billing"):
            assert listed(api, alice) == 200
        assert len(reads) == 1
        assert "password refused" not in caplog.text  # logged in with the new password at the first try


# ----- Stripe: a rolled API key -------------------------------------------------------------------------------


@dataclass
class KeyInSecretsManager:
    key: str
    arn: str
    contact: object
    invoice_id: str


@pytest.fixture
def stripe_key_secret(moto_secrets_manager, world) -> Iterator[KeyInSecretsManager]:
    """The functions on a Stripe key read from Secrets Manager, and an invoice to pay."""
    key = "sk_test_before_the_roll_" + uuid.uuid4().hex
    arn = moto_secrets_manager.create_secret(Name="billing/stripe-key", SecretString=key)["ARN"]
    acme = world.company()
    alice = world.contact(acme)
    with new_container(STRIPE_SECRET_KEY=None, STRIPE_SECRET_KEY_SECRET_ARN=arn):
        yield KeyInSecretsManager(key, arn, alice, world.invoice(acme))


def test_a_rolled_stripe_key_is_read_again_once_after_a_401(stripe_key_secret, moto_secrets_manager, api,
                                                           stripe_double, secret_reads) -> None:
    reads = secret_reads()
    # The key is rolled in the Dashboard ("expire now") and the new one stored in the secret
    new_key = stripe_double.roll_api_key(stripe_key_secret.key)
    moto_secrets_manager.put_secret_value(SecretId=stripe_key_secret.arn, SecretString=new_key)

    status, body = api.checkout(stripe_key_secret.contact, stripe_key_secret.invoice_id)

    assert status == 200 and body["sessionId"]
    assert reads == [stripe_key_secret.arn]
    keys_sent = [r.api_key for r in stripe_double.requests]
    assert keys_sent[0] == stripe_key_secret.key and set(keys_sent[1:]) == {new_key}  # refused once, then the new
    assert stripe_double.requests[0].path == "/v1/customers"


def test_a_stripe_key_refused_again_after_the_reread_is_502_without_a_loop(stripe_key_secret, api, stripe_double,
                                                                          secret_reads, db) -> None:
    reads = secret_reads()
    stripe_double.roll_api_key(stripe_key_secret.key)  # revoked, and nobody stored a new key

    assert api.checkout(stripe_key_secret.contact, stripe_key_secret.invoice_id)[0] == 502
    assert reads == [stripe_key_secret.arn]
    assert len(stripe_double.requests) == 1  # the same key is not sent twice
    assert db('SELECT "stripeCheckoutSessionId" FROM "Invoice"')[0]["stripeCheckoutSessionId"] is None


def test_a_live_key_read_after_a_401_is_refused_while_a_local_switch_is_set(stripe_key_secret, moto_secrets_manager,
                                                                           api, stripe_double, caplog) -> None:
    # STRIPE_API_BASE is the double: a live key must never be sent there
    stripe_double.roll_api_key(stripe_key_secret.key)
    moto_secrets_manager.put_secret_value(SecretId=stripe_key_secret.arn, SecretString="sk_live_" + uuid.uuid4().hex)

    assert api.checkout(stripe_key_secret.contact, stripe_key_secret.invoice_id)[0] == 502
    assert [r.api_key for r in stripe_double.requests] == [stripe_key_secret.key]
    assert "the Stripe secret key read again is refused" in caplog.text


# ----- Stripe: rolled webhook signing secrets ------------------------------------------------------------------


NEW_SIGNING_SECRET = "whsec_test_after_the_roll"


def signed_with(api, event: dict, *secrets_used: str) -> tuple[int, dict]:
    """Delivered as Stripe delivers while a secret is rolled: one v1 signature per secret it signs with."""
    payload = event_payload(event)
    headers = [sign_payload(payload, secret) for secret in secrets_used]
    timestamp = headers[0].split(",")[0]
    signature = ",".join([timestamp, *(h.split(",", 1)[1] for h in headers)])
    return api.deliver_raw(payload, signature)


def test_while_a_signing_secret_is_rolled_a_signature_with_either_is_accepted(payment_not_yet_recorded, api,
                                                                            moto_secrets_manager) -> None:
    _, completed = payment_not_yet_recorded
    both = f"{NEW_SIGNING_SECRET},{STRIPE_WEBHOOK_SECRET}"  # how the secret holds two: comma-separated, newest first
    arn = moto_secrets_manager.create_secret(Name="billing/stripe-webhook", SecretString=both)["ARN"]
    with new_container(STRIPE_WEBHOOK_SECRET=None, STRIPE_WEBHOOK_SECRET_SECRET_ARN=arn):
        assert signed_with(api, completed, STRIPE_WEBHOOK_SECRET)[0] == 200
        assert signed_with(api, completed, NEW_SIGNING_SECRET)[1] == {"received": True, "duplicate": True}
        assert signed_with(api, completed, NEW_SIGNING_SECRET, STRIPE_WEBHOOK_SECRET)[0] == 200
        assert signed_with(api, completed, "whsec_test_someone_elses")[0] == 400


def test_a_signing_secret_replaced_in_secrets_manager_is_read_again_after_its_maximum_age(
    payment_not_yet_recorded, api, moto_secrets_manager, monkeypatch
) -> None:
    monkeypatch.setattr(secret_store, "MAX_AGE_SECONDS", 1)
    _, completed = payment_not_yet_recorded
    arn = moto_secrets_manager.create_secret(Name="billing/stripe-webhook", SecretString=STRIPE_WEBHOOK_SECRET)["ARN"]
    with new_container(STRIPE_WEBHOOK_SECRET=None, STRIPE_WEBHOOK_SECRET_SECRET_ARN=arn):
        moto_secrets_manager.put_secret_value(SecretId=arn, SecretString=NEW_SIGNING_SECRET)  # the roll is over
        assert signed_with(api, completed, NEW_SIGNING_SECRET)[0] == 400  # within the maximum age: not read yet
        time.sleep(1.1)
        assert signed_with(api, completed, NEW_SIGNING_SECRET)[0] == 200
        assert signed_with(api, completed, STRIPE_WEBHOOK_SECRET)[0] == 400  # the old one is gone

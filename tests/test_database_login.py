"""IAM database authentication (RDS Proxy): each login presents a token made from the role's credentials, never a
password; a token is reused below its 15-minute life and made anew when the server refuses a login. And the TLS
default: verified for every server not on this machine, against the Amazon roots shipped in the layer.

The logins are presented to a PostgreSQL cluster that asks for passwords (`initdb --auth=scram-sha-256`): the
role's password is set to the token the container made, which is what RDS Proxy checks for it.
"""

from __future__ import annotations

import hashlib
import re
import ssl
import time
import uuid
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import text

from billing import db as billing_db
from billing import db_login, db_pg8000
from billing.errors import ServiceUnavailable
from local.template import template
from tests.support.container import new_container
from tests.support.postgres_proxy import PostgresProxy

ROLE = "billing_iam"
AWS_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE", "AWS_SECRET_ACCESS_KEY": "test-secret-key",
                   "AWS_SESSION_TOKEN": None, "AWS_REGION": "eu-west-1"}


def signed_at(token: str) -> str:
    return parse_qs(urlsplit("//" + token).query)["X-Amz-Date"][0]


def test_a_token_is_a_signed_connect_for_this_host_port_and_user_reused_below_its_life(monkeypatch) -> None:
    for name, value in AWS_CREDENTIALS.items():
        monkeypatch.setenv(name, value) if value else monkeypatch.delenv(name, raising=False)
    now = [1_000_000.0]
    login = db_login.IamTokenLogin("proxy.example.internal", 5432, "billing", "eu-west-1", clock=lambda: now[0])

    user, token = login.current()

    query = parse_qs(urlsplit("//" + token).query)
    assert user == "billing" and token.startswith("proxy.example.internal:5432/?")
    assert query["Action"] == ["connect"] and query["DBUser"] == ["billing"]
    assert query["X-Amz-Expires"] == ["900"] and "eu-west-1/rds-db/aws4_request" in query["X-Amz-Credential"][0]
    now[0] += db_login.TOKEN_REUSE_SECONDS - 1
    assert login.current()[1] is token  # still well inside its 15 minutes
    time.sleep(1.1)  # the next token is signed at another second
    now[0] += 1
    renewed = login.current()[1]
    assert signed_at(renewed) > signed_at(token)
    assert db_login.TOKEN_REUSE_SECONDS < 900


@pytest.fixture
def iam_role(password_postgres):
    """A role and database on the password-checking cluster; the role's password is whatever a test sets."""
    name = f"billing_iam_{uuid.uuid4().hex[:8]}"
    with password_postgres.admin().connect() as conn:
        conn.execute(text(f"CREATE ROLE {ROLE} LOGIN PASSWORD 'none-yet'"))
        conn.execute(text(f'CREATE DATABASE "{name}" OWNER {ROLE}'))

    def set_password(password: str) -> None:
        with password_postgres.admin().connect() as conn:
            conn.execute(text(f"ALTER ROLE {ROLE} PASSWORD '{password}'"))

    yield f"postgresql+pg8000://{ROLE}@127.0.0.1:{password_postgres.port}/{name}", set_password
    with password_postgres.admin().connect() as conn:
        conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        conn.execute(text(f"DROP ROLE {ROLE}"))


def logged_in_as() -> str:
    with billing_db.transaction() as conn:
        return str(conn.exec_driver_sql("SELECT current_user").scalar_one())


def test_a_container_logs_in_with_its_token_and_a_new_one_after_a_refusal(iam_role, caplog) -> None:
    url, set_password = iam_role
    assert "@" in url and ":" not in url.split("@")[0].removeprefix("postgresql+pg8000://")  # no password in it
    with new_container(DATABASE_URL=url, DATABASE_IAM_AUTH="true", DATABASE_SECRET_ARN=None, **AWS_CREDENTIALS):
        login = billing_db.login()
        assert isinstance(login, db_login.IamTokenLogin)
        first_token = login.current()[1]
        set_password(first_token)  # what RDS Proxy accepts for this role now

        assert logged_in_as() == ROLE

        # The token is no longer accepted (expired, or the proxy restarted): the pooled connection goes, and the
        # next login is refused once, then tried with a token made anew
        set_password("refused")
        billing_db.engine().dispose()
        time.sleep(1.1)
        with pytest.raises(ServiceUnavailable):
            logged_in_as()  # refused twice: one new token, one more try, no loop
        second_token = login.current()[1]
        assert second_token != first_token and signed_at(second_token) > signed_at(first_token)

        set_password(second_token)
        assert logged_in_as() == ROLE
        assert "a new IAM authentication token will be made" in caplog.text
        assert first_token not in caplog.text and second_token not in caplog.text


def test_iam_authentication_needs_the_region_and_a_user() -> None:
    from billing.errors import ConfigurationError
    from billing.settings import Need, load_settings

    with pytest.raises(ConfigurationError) as refused:
        load_settings(frozenset({Need.DATABASE}), {"DATABASE_IAM_AUTH": "true", "DATABASE_HOST": "proxy.internal"})
    assert "AWS_REGION" in str(refused.value) and "DATABASE_USER" in str(refused.value)
    settings = load_settings(frozenset({Need.DATABASE}), {
        "DATABASE_IAM_AUTH": "true", "DATABASE_HOST": "proxy.internal", "DATABASE_USER": "billing",
        "DATABASE_NAME": "portal", "AWS_REGION": "eu-west-1"})
    assert settings.database_url == "postgresql+pg8000://billing@proxy.internal:5432/portal"
    assert settings.database_iam_auth and settings.database_secret_arn is None


# ----- TLS: verified by default -----------------------------------------------------------------------------------

# SHA-256 of Amazon Root CA 1-4 (DER), as Amazon Trust Services publishes them (https://www.amazontrust.com/repository/)
AMAZON_ROOTS = {
    "Amazon Root CA 1": "8ecde6884f3d87b1125ba31ac3fcb13d7016de7f57cc904fe1cb97c6ae98196e",
    "Amazon Root CA 2": "1ba5b2aa8c65401a82960118f80bec4f62304d83cec4713a19c39c011ea46db4",
    "Amazon Root CA 3": "18ce6cfe7bf14e60b2e347b8dfe868cb31d02ebb3ada271569f50343b46db3a4",
    "Amazon Root CA 4": "e35d28419ed02025cfa69038cd623962458da5c695fbdea3c22b0bfb25897092",
}


def test_the_layer_ships_amazon_root_ca_1_to_4_and_nothing_else() -> None:
    pem = db_pg8000.AMAZON_ROOT_CAS.read_text()
    blocks = re.findall(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", pem, re.DOTALL)
    fingerprints = sorted(hashlib.sha256(ssl.PEM_cert_to_DER_cert(b)).hexdigest() for b in blocks)
    assert fingerprints == sorted(AMAZON_ROOTS.values())


@pytest.mark.parametrize(("host", "verified_with"), [
    ("billing.proxy-abc.eu-west-1.rds.amazonaws.com", str(db_pg8000.AMAZON_ROOT_CAS)),
    ("10.0.1.17", str(db_pg8000.AMAZON_ROOT_CAS)), ("127.0.0.2", str(db_pg8000.AMAZON_ROOT_CAS)),
    ("localhost", None), ("127.0.0.1", None), ("::1", None),
])
def test_without_a_bundle_only_a_server_on_this_machine_goes_unverified(host, verified_with) -> None:
    assert db_pg8000.default_ca_bundle(host) == verified_with


def test_without_a_bundle_a_server_elsewhere_with_a_certificate_not_from_amazon_is_refused(database_url) -> None:
    # 127.0.0.2 is not one of this machine's names for itself the code trusts (localhost, 127.0.0.1, ::1): it
    # stands in for a database elsewhere. The proxy's certificate is the tests' CA's, not Amazon's.
    with PostgresProxy(host="127.0.0.2", tls=True) as proxy:
        engine = billing_db.create_database_engine(proxy.url(database_url, "127.0.0.2"))
        try:
            with pytest.raises(Exception) as refused:
                engine.connect()
        finally:
            engine.dispose()
    seen: BaseException | None = refused.value
    while seen is not None and not isinstance(seen, ssl.SSLCertVerificationError):
        seen = seen.__cause__ or seen.__context__
    assert seen is not None and seen.verify_message == "unable to get local issuer certificate"
    assert [(c.tls, c.bytes_to_server) for c in proxy.connections] == [(False, 0)]  # nothing sent, no plaintext


@pytest.mark.parametrize(("host", "allowed"), [
    ("billing.proxy-abc.eu-west-1.rds.amazonaws.com", True), ("", True), ("localhost", False),
    ("127.0.0.1", False), ("::1", False),
])
def test_the_template_never_defaults_to_an_unverified_connection(host, allowed) -> None:
    parameters = template()["Parameters"]
    assert parameters["DatabaseCaBundle"]["Default"] == ""  # the Amazon roots (default_ca_bundle)
    # and no host the code would speak to unverified: an empty one is the proxy's or the secret's
    assert bool(re.fullmatch(parameters["DatabaseHost"]["AllowedPattern"], host)) is allowed

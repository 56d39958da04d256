"""Cutting a person off: unlinking or removing their Contact works on the next request, remembered token or not;
with a service account, revoked, disabled and deleted Firebase accounts are refused (Google's answer remembered
per user for at most five minutes); tokens of an Identity Platform tenant only where that tenant is configured.

Google's accounts lookup is answered at the HTTP layer (google_double/accounts.py); firebase-admin and its
service account credentials run unchanged.
"""

from __future__ import annotations

import time

import pytest

from billing import auth
from google_double.accounts import GoogleAccounts
from harness.world import Contact
from tests.conftest import PROJECT_ID
from tests.support.container import new_container

NO_CONTACT = (403, {"error": "no client contact for this account"})
NOT_AUTHENTICATED = (401, {"error": "missing, invalid or expired ID token"})


@pytest.mark.parametrize("cut_off", [
    'UPDATE "Contact" SET "firebaseUid" = NULL WHERE id = :id',  # unlinked from the Firebase account
    'UPDATE "Contact" SET "contactCompanyId" = NULL WHERE id = :id',  # removed from the company
    'DELETE FROM "Contact" WHERE id = :id',  # removed
])
def test_a_contact_cut_off_is_refused_at_the_next_request_while_the_token_is_remembered(
    world, api, token_issuer, firebase_verifications, db, cut_off
) -> None:
    acme = world.company()
    alice = world.contact(acme)
    invoice_id = world.invoice(acme)
    token = token_issuer.token(alice.uid)
    assert api.list_invoices(alice, token=token)[0] == 200
    assert api.list_invoices(alice, token=token)[0] == 200
    assert firebase_verifications == [token]  # remembered: not verified again

    db(cut_off, id=alice.id)

    assert api.list_invoices(alice, token=token) == NO_CONTACT
    assert api.checkout(alice, invoice_id, token=token) == NO_CONTACT
    assert api.verify(alice, invoice_id, "cs_test_any", token=token) == NO_CONTACT
    assert firebase_verifications == [token]  # still remembered: the Contact is what cut them off


@pytest.fixture
def google(google_endpoint, moto_secrets_manager, world):
    """A service account configured (its key in Secrets Manager), and Google answering for the accounts."""
    accounts = GoogleAccounts(PROJECT_ID)
    accounts.serve(google_endpoint)
    arn = moto_secrets_manager.create_secret(Name="billing/firebase-service-account",
                                             SecretString=accounts.service_account_key())["ARN"]
    with new_container(FIREBASE_SERVICE_ACCOUNT_SECRET_ARN=arn):
        yield accounts
    accounts.stop_serving(google_endpoint)


def signed_in(world, google) -> Contact:
    acme = world.company()
    alice = world.contact(acme)
    world.invoice(acme)
    google.add_user(alice.uid)
    return alice


def test_with_a_service_account_a_revoked_users_token_is_refused_within_the_remembered_window(
    world, api, token_issuer, google, monkeypatch
) -> None:
    assert auth.REVOCATION_ANSWER_SECONDS <= 300  # the production window: five minutes at most
    monkeypatch.setattr(auth, "REVOCATION_ANSWER_SECONDS", 1.0)  # a test does not wait five minutes
    alice = signed_in(world, google)
    token = token_issuer.token(alice.uid)

    assert [api.list_invoices(alice, token=token)[0] for _ in range(3)] == [200, 200, 200]
    assert google.lookups == [(None, alice.uid)]  # asked once, then remembered

    google.revoke_tokens(alice.uid)
    assert api.list_invoices(alice, token=token)[0] == 200  # Google's last answer still believed
    time.sleep(1.1)
    assert api.list_invoices(alice, token=token) == NOT_AUTHENTICATED
    assert api.list_invoices(alice, token=token) == NOT_AUTHENTICATED
    assert len(google.lookups) == 3  # a refused token is not remembered: asked every time

    # Signing in again gives a token issued after the revocation: accepted; the old one still is not
    fresh = token_issuer.token(alice.uid, iat=int(time.time()), auth_time=int(time.time()))
    assert api.list_invoices(alice, token=fresh)[0] == 200
    assert api.list_invoices(alice, token=token) == NOT_AUTHENTICATED  # older than the answer about `fresh`


@pytest.mark.parametrize("account_change", ["disable", "delete"])
def test_with_a_service_account_a_disabled_or_deleted_account_is_refused(world, api, token_issuer, google,
                                                                        account_change) -> None:
    alice = signed_in(world, google)
    token = token_issuer.token(alice.uid)
    getattr(google, account_change)(alice.uid)

    assert api.list_invoices(alice, token=token) == NOT_AUTHENTICATED
    assert api.checkout(alice, "inv_any", token=token) == NOT_AUTHENTICATED


def test_google_unreachable_for_the_revocation_check_is_503(world, api, token_issuer, google) -> None:
    alice = signed_in(world, google)
    google.unavailable = True

    assert api.list_invoices(alice, token=token_issuer.token(alice.uid)) == (
        503, {"error": "cannot verify tokens right now; try again"})


def test_without_a_service_account_revocation_is_not_checked(world, api, token_issuer, firebase_verifications) -> None:
    # No request leaves for Google's accounts API (the double would have to answer it): the token alone decides
    acme = world.company()
    alice = world.contact(acme)
    assert api.list_invoices(alice, token=token_issuer.token(alice.uid))[0] == 200
    assert auth._checks_revocation() is False


def tenant_token(token_issuer, uid: str, tenant: str) -> str:
    return token_issuer.token(uid, firebase={"identities": {}, "sign_in_provider": "password", "tenant": tenant})


def test_a_tenants_token_is_refused_where_no_tenant_is_configured(world, api, token_issuer) -> None:
    alice = world.contact(world.company())
    assert api.list_invoices(alice, token=tenant_token(token_issuer, alice.uid, "customers-1")) == NOT_AUTHENTICATED
    assert api.list_invoices(alice, token=token_issuer.token(alice.uid))[0] == 200


def test_with_a_tenant_configured_only_that_tenants_tokens_are_accepted(world, api, token_issuer) -> None:
    alice = world.contact(world.company())
    with new_container(FIREBASE_TENANT_ID="customers-1"):
        assert api.list_invoices(alice, token=tenant_token(token_issuer, alice.uid, "customers-1"))[0] == 200
        assert api.list_invoices(alice, token=tenant_token(token_issuer, alice.uid, "customers-2")) == \
            NOT_AUTHENTICATED
        assert api.list_invoices(alice, token=token_issuer.token(alice.uid)) == NOT_AUTHENTICATED


def test_a_tenants_revoked_user_is_looked_up_among_the_tenants_accounts(world, api, token_issuer, google) -> None:
    alice = signed_in(world, google)
    with new_container(FIREBASE_TENANT_ID="customers-1"):
        token = tenant_token(token_issuer, alice.uid, "customers-1")
        assert api.list_invoices(alice, token=token)[0] == 200
        google.revoke_tokens(alice.uid)
        auth._not_revoked.clear()  # as if five minutes had passed
        assert api.list_invoices(alice, token=token) == NOT_AUTHENTICATED
    assert google.lookups == [("customers-1", alice.uid), ("customers-1", alice.uid)]

"""Every client route verifies the Firebase ID token itself (firebase-admin, real RS256 signatures), and scopes
everything to the caller's company."""

from __future__ import annotations

import time

import pytest

BROKEN_TOKENS = [
    "expired_token",
    "future_token",
    "wrong_project_token",
    "foreign_key_token",
    "unknown_kid_token",
    "injected_kid_token",
    "unsigned_token",
    "hs256_with_certificate_token",
]


def _call_route(api, route: str, contact, invoice_id: str, token: str):
    if route == "list":
        return api.list_invoices(contact, token=token)
    if route == "checkout":
        return api.checkout(contact, invoice_id, token=token)
    return api.verify(contact, invoice_id, "cs_test_doesnotmatter", token=token)


@pytest.mark.parametrize("route", ["list", "checkout", "verify"])
@pytest.mark.parametrize("kind", BROKEN_TOKENS)
def test_broken_tokens_are_401_on_every_route(world, api, token_issuer, stripe_double, db, route, kind) -> None:
    acme = world.company()
    alice = world.contact(acme)
    invoice_id = world.invoice(acme)
    token = getattr(token_issuer, kind)(alice.uid)

    status, body = _call_route(api, route, alice, invoice_id, token)

    assert status == 401
    assert body == {"error": "missing, invalid or expired ID token"}
    assert stripe_double.requests == []
    assert db('SELECT status, "stripeCheckoutSessionId" FROM "Invoice"')[0]["stripeCheckoutSessionId"] is None


@pytest.mark.parametrize("route", ["list", "checkout", "verify"])
def test_a_tampered_token_cannot_borrow_another_users_identity(world, api, token_issuer, route) -> None:
    acme, globex = world.company(), world.company()
    alice, mallory = world.contact(acme), world.contact(globex)
    invoice_id = world.invoice(acme)
    token = token_issuer.tampered_token(mallory.uid, alice.uid)

    status, _ = _call_route(api, route, mallory, invoice_id, token)

    assert status == 401


@pytest.mark.parametrize("route", ["checkout", "verify"])
def test_another_companys_invoice_is_indistinguishable_from_a_missing_one(world, api, stripe_double, route) -> None:
    acme, globex = world.company(), world.company()
    world.contact(acme)
    mallory = world.contact(globex)
    acme_invoice = world.invoice(acme)

    foreign = _call_route(api, route, mallory, acme_invoice, api.token(mallory))
    missing = _call_route(api, route, mallory, "inv_does_not_exist", api.token(mallory))

    assert foreign == missing == (404, {"error": "invoice not found"})
    assert stripe_double.requests == []


@pytest.mark.parametrize("route", ["checkout", "verify"])
@pytest.mark.parametrize(
    "invoice_id", ["' OR '1'='1", "inv_1; DROP TABLE \"Invoice\"; --", "ínvøicé-✓", "x" * 10_000, "%00", "\x00"]
)
def test_hostile_invoice_ids_are_404(world, api, db, route, invoice_id) -> None:
    acme = world.company()
    alice = world.contact(acme)
    world.invoice(acme)

    status, body = _call_route(api, route, alice, invoice_id, api.token(alice))

    assert (status, body) == (404, {"error": "invoice not found"})
    assert len(db('SELECT id FROM "Invoice"')) == 1


def test_a_verified_token_is_remembered_until_it_expires(world, api, token_issuer, firebase_verifications) -> None:
    acme = world.company()
    alice = world.contact(acme)
    world.invoice(acme)
    # Seconds of margin: the three requests below must all land before `exp` even on a loaded CI machine.
    expires_at = int(time.time()) + 5
    token = token_issuer.token(alice.uid, exp=expires_at)

    answers = [api.list_invoices(alice, token=token)[0] for _ in range(3)]
    assert answers == [200, 200, 200]
    assert firebase_verifications == [token]  # verified once, then remembered

    while time.time() < expires_at + 1:  # firebase-admin accepts a token through its `exp` second
        time.sleep(0.05)
    assert api.list_invoices(alice, token=token) == (401, {"error": "missing, invalid or expired ID token"})
    assert firebase_verifications == [token, token]  # past `exp` it is verified again, and refused


def test_a_refused_token_is_not_remembered(world, api, token_issuer, firebase_verifications) -> None:
    acme = world.company()
    alice = world.contact(acme)
    token = token_issuer.foreign_key_token(alice.uid)

    assert [api.list_invoices(alice, token=token)[0] for _ in range(2)] == [401, 401]
    assert firebase_verifications == [token, token]


def test_remembered_tokens_stay_bound_to_their_own_user(world, api, token_issuer) -> None:
    acme, globex = world.company(), world.company()
    alice, mallory = world.contact(acme), world.contact(globex)
    alice_invoice, mallory_invoice = world.invoice(acme), world.invoice(globex)
    alice_token, mallory_token = token_issuer.token(alice.uid), token_issuer.token(mallory.uid)

    for _ in range(2):
        assert [i["id"] for i in api.list_invoices(alice, token=alice_token)[1]["invoices"]] == [alice_invoice]
        assert [i["id"] for i in api.list_invoices(mallory, token=mallory_token)[1]["invoices"]] == [mallory_invoice]
        assert api.list_invoices(mallory, token=token_issuer.tampered_token(mallory.uid, alice.uid))[0] == 401

"""The Stripe double: a stateful HTTP double of the Stripe v1 API this project uses, a product of this project in
its own right. The tests, the local stack (`make dev`), the storm and the benchmark all run on it; the real
`stripe` SDK talks to it over a socket, so form encoding, errors, retries and idempotency keys are exercised as in
production. Never deployed: nothing in the layer or the functions imports it.

By concern: `vocabulary` (the SDK's literals and parameter names, what the double models), `form` and `validation`
(the request's parameters, Stripe's 400s), `errors`, `store` (the objects and events), `customers`, `sessions`,
`line_items`, `payments` (what the API makes), `scenarios` (what a customer, the bank or the Dashboard does),
`faults`, `api` and `endpoints` (the HTTP API), `http` (the transport), `double` (`StripeDouble`: all of it in one
object), `events` (webhook payloads and signatures), `delivery` (webhook delivery), `checkout` and `page` (the
payment page), `clock` and `server` (the local server of `make dev`, `python -m stripe_double`).

Nothing is re-exported here: importing `stripe_double.events` to sign a body costs no more than that module.
"""

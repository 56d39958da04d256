"""`python -m stripe_double`: the double served over HTTP with its payment page and webhook delivery (what
`make dev` and the smoke test start)."""

from stripe_double.server import main

raise SystemExit(main())

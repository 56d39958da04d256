"""Shared code of the billing functions: auth, database, Stripe, and the payment logic."""

"""Secrets Manager values, cached with a maximum age and re-read when a credential is refused.

Secrets rotate: RDS rotates its database secret every 7 days by default, a Stripe key is rolled, a webhook signing
secret is replaced. A value read once at init would outlive them, and with SnapStart init runs once per published
version: every container restored later would start with the value of publishing day. So every read goes through
Powertools' parameters (`get_secret(max_age=...)`): within MAX_AGE_SECONDS a read is a dictionary lookup, after it
Secrets Manager is asked again, and `fresh=True` asks at once (a refused password, a 401 from Stripe).

Importing Powertools' parameters costs about 4 ms once boto3 is loaded (boto3 and the client, about 90 ms here, are
needed either way); it is imported only where a secret ARN is set, that is on AWS, at init (before a SnapStart
snapshot), never on a warm request.
"""

from __future__ import annotations

from typing import Any

from billing.errors import ConfigurationError

# Long enough that a warm container asks Secrets Manager a handful of times an hour at most; short enough that a
# rotated value reaches every container within minutes even when nothing was refused yet.
MAX_AGE_SECONDS = 300


def read_secret(arn: str, *, fresh: bool = False) -> str:
    """The secret's current string, from the cache unless it is older than MAX_AGE_SECONDS or `fresh` is asked."""
    from aws_lambda_powertools.utilities import parameters

    try:
        value: Any = parameters.get_secret(arn, max_age=MAX_AGE_SECONDS, force_fetch=fresh)
    except Exception as error:  # the message names the ARN, never the value
        cause = error.__cause__ or error
        raise ConfigurationError(f"cannot read secret {arn}: {type(cause).__name__}") from None
    return str(value)

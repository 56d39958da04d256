"""The client routes answer only requests that came through the edge, when the deployment has one.

With EdgeWebAclArn (template.yaml) the portal calls a CloudFront distribution whose AWS WAF web ACL gives each
caller its own request budget. The HTTP API behind it cannot carry a web ACL and keeps its public execute-api
address, so CloudFront adds a generated value as the X-Origin-Verify header and the client routes refuse every
request without it: going around CloudFront would skip the per-caller limits. Without an edge
(EDGE_ORIGIN_VERIFY_SECRET_ARN empty, local runs) nothing is checked.

The secret is JSON: {"current": <what CloudFront sends>, "previous": <still accepted while a new value rolls out,
else "">}. It is read as the other secrets are (`billing.secret_store`: a dictionary lookup on a warm request, once
more every five minutes), and compared in constant time.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Mapping
from functools import lru_cache

from billing.errors import ConfigurationError, NotThroughEdge
from billing.settings import current_secret

EDGE_HEADER = "x-origin-verify"  # names arrive lower-cased (billing.http.ApiRequest)


def require_edge_origin(headers: Mapping[str, str]) -> None:
    """Refuse (403) a request that did not come through the edge, when there is one."""
    secret = current_secret("EDGE_ORIGIN_VERIFY")
    if secret is None:
        return
    sent = headers.get(EDGE_HEADER, "").encode()
    if not any(hmac.compare_digest(sent, accepted) for accepted in _accepted_values(secret)):
        raise NotThroughEdge()


@lru_cache(maxsize=2)  # the secret as last read, and the one before it while a new value rolls out
def _accepted_values(secret: str) -> tuple[bytes, ...]:
    try:
        values = json.loads(secret)
        accepted = tuple(str(values[key]).encode() for key in ("current", "previous") if values.get(key))
    except (ValueError, TypeError, AttributeError, KeyError):
        accepted = ()
    if not accepted:  # never "no value, so anything goes"
        raise ConfigurationError('the edge origin secret is not JSON with a "current" value')
    return accepted

"""The one logger every function uses: Powertools structured JSON logs.

Nothing here logs whole events or headers: payment and auth requests carry ID tokens, signatures and
client secrets.
"""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME") or "billing")

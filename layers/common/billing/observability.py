"""The one logger every function uses: Powertools structured JSON logs.

Nothing here logs whole events or headers: payment and auth requests carry ID tokens, signatures and
client secrets.

The libraries' own loggers stay at WARNING whatever the root logger's level (Lambda sets it from the function's
ApplicationLogLevel): at DEBUG the Stripe SDK logs request and response bodies (client secrets, payers' emails),
botocore the secrets Secrets Manager returns, urllib3 and requests every URL, SQLAlchemy every row it reads
(contacts' emails, stored events) and google-auth its token exchanges. Their warnings and errors still reach the
logs; our own logger follows LOG_LEVEL.
"""

from __future__ import annotations

import logging
import os

from aws_lambda_powertools import Logger

QUIET_LIBRARY_LOGGERS = ("stripe", "urllib3", "requests", "botocore", "boto3", "sqlalchemy", "google", "cachecontrol",
                         "firebase_admin", "pg8000", "aws_lambda_powertools")

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME") or "billing")

for _name in QUIET_LIBRARY_LOGGERS:
    logging.getLogger(_name).setLevel(logging.WARNING)

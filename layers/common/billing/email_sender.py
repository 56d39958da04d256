"""Where the notifier's messages go: Amazon SES (sesv2 SendEmail, the raw MIME message with its plain-text and HTML
alternatives), or, in local runs, files in a directory (EMAIL_CAPTURE_DIR: nothing leaves the machine).

Capture is refused unless the sender address is at a domain reserved for tests (RFC 2606/6761: .test, .example,
.invalid, .localhost, example.com/net/org). SES can verify no such identity, so a deployment that sends for real
has a sender capture refuses: a misconfigured capture directory cannot make production mail vanish silently
(billing.config_rules.email_capture_problems).

Throttling: the SES client retries throttled calls itself (botocore's standard retry mode: exponential backoff
with jitter, `SES_ATTEMPTS` calls in all); a message still throttled after that is put back for a later run with
the outbox's own backoff (billing/notifier.py).
"""

from __future__ import annotations

import json
import re
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from billing.email_content import RenderedEmail

SES_ATTEMPTS = 4
# SES's answers that no retry can change: the message or its sender is refused (billing/notifier.py fails the row).
PERMANENT_ERRORS = frozenset({"MessageRejected", "MailFromDomainNotVerifiedException", "BadRequestException",
                              "NotFoundException", "AccountSuspendedException"})
THROTTLING_ERRORS = frozenset({"TooManyRequestsException", "LimitExceededException", "ThrottlingException",
                               "SendingPausedException"})


class OutgoingEmail(NamedTuple):
    sender: str
    recipient: str
    content: RenderedEmail
    notification_id: str  # the outbox row: the Message-ID's left part, and the capture file's name


class EmailSender(Protocol):
    def send(self, email: OutgoingEmail) -> str:
        """Send one message; its message id. Raises SendFailed."""
        ...


class SendFailed(Exception):
    def __init__(self, code: str, *, throttled: bool = False, permanent: bool = False) -> None:
        super().__init__(code)
        self.code = code
        self.throttled = throttled
        self.permanent = permanent


def mime_message(email: OutgoingEmail) -> EmailMessage:
    message = EmailMessage()
    message["From"] = email.sender
    message["To"] = email.recipient
    message["Subject"] = email.content.subject
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = make_msgid(idstring=email.notification_id, domain=email.sender.rpartition("@")[2])
    message.set_content(email.content.text)
    message.add_alternative(email.content.html, subtype="html")
    return message


class SesSender:
    def __init__(self, configuration_set: str | None) -> None:
        self.configuration_set = configuration_set

    def send(self, email: OutgoingEmail) -> str:
        from botocore.exceptions import BotoCoreError, ClientError

        request: dict[str, Any] = {
            "FromEmailAddress": email.sender,
            "Destination": {"ToAddresses": [email.recipient]},
            "Content": {"Raw": {"Data": mime_message(email).as_bytes()}},
        }
        if self.configuration_set:
            request["ConfigurationSetName"] = self.configuration_set
        try:
            answer = ses_client().send_email(**request)
        except ClientError as error:
            code = str(error.response.get("Error", {}).get("Code") or "ClientError")
            raise SendFailed(code, throttled=code in THROTTLING_ERRORS, permanent=code in PERMANENT_ERRORS) from None
        except BotoCoreError as error:  # the network, a timeout: worth another attempt
            raise SendFailed(type(error).__name__) from None
        return str(answer["MessageId"])


@cache
def ses_client() -> Any:
    """One client per container (boto3 is in Lambda's runtime; imported only by the notifier)."""
    import boto3
    from botocore.config import Config

    return boto3.client("sesv2", config=Config(retries={"mode": "standard", "max_attempts": SES_ATTEMPTS},
                                               connect_timeout=5, read_timeout=10))


_SAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]")


class CaptureSender:
    """Local runs: each message as `<id>.eml` (the MIME message SES would have been given), `<id>.html`, `<id>.txt`
    and `<id>.json` (who, what, which row) in `directory`."""

    def __init__(self, directory: str) -> None:
        self.directory = Path(directory)

    def send(self, email: OutgoingEmail) -> str:
        self.directory.mkdir(parents=True, exist_ok=True)
        name = _SAFE_NAME.sub("_", email.notification_id)
        message = mime_message(email)
        (self.directory / f"{name}.eml").write_bytes(message.as_bytes())
        (self.directory / f"{name}.html").write_text(email.content.html, encoding="utf-8")
        (self.directory / f"{name}.txt").write_text(email.content.text, encoding="utf-8")
        summary = {"notificationId": email.notification_id, "from": email.sender, "to": email.recipient,
                   "subject": email.content.subject}
        (self.directory / f"{name}.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2) + "\n",
                                                     encoding="utf-8")
        return f"captured-{name}"

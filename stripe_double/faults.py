"""Injected faults: the next requests answered with an error, delayed, or cut off, as Stripe and the network
sometimes do. A failed or dropped request is not performed, so its idempotency key stays unused."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from stripe_double.errors import StripeApiError

# Bodies for injected failures: status -> (type, code, message).
FAULT_ERRORS: dict[int, tuple[str, str | None, str]] = {
    402: ("card_error", "card_declined", "Your card was declined."),
    409: (
        "idempotency_error",
        None,
        "There is currently another in-progress request using this Idempotency-Key. Please try again later.",
    ),
    429: (
        "invalid_request_error",
        "rate_limit",
        "Request rate limit exceeded. Learn more about rate limits here https://docs.stripe.com/rate-limits.",
    ),
    500: ("api_error", None, "Something went wrong on Stripe's end."),
    502: ("api_error", None, "Bad gateway."),
    503: ("api_error", None, "Stripe is temporarily unavailable."),
    504: ("api_error", None, "Gateway timeout."),
}


@dataclass
class Fault:
    kind: str  # "fail" | "drop" | "hang"
    remaining: int
    path_prefix: str | None
    method: str | None
    status: int = 500
    seconds: float = 0.0
    should_retry: bool | None = None

    def matches(self, method: str, path: str) -> bool:
        return (
            self.remaining > 0
            and (self.method is None or self.method.upper() == method)
            and (self.path_prefix is None or path.startswith(self.path_prefix))
        )

    def error(self) -> StripeApiError:
        """The Stripe error a "fail" fault answers with."""
        error_type, code, message = FAULT_ERRORS[self.status]
        headers = {}
        if self.should_retry is not None:
            headers["Stripe-Should-Retry"] = "true" if self.should_retry else "false"
        return StripeApiError(
            self.status,
            f"{message} (injected by StripeDouble.fail_next)",
            type=error_type,
            code=code,
            decline_code="generic_decline" if self.status == 402 else None,
            headers=headers,
        )


class Faults:
    """The faults waiting for their requests, and the event that releases hanging answers (reset, stop)."""

    def __init__(self) -> None:
        self._pending: list[Fault] = []
        self._lock = threading.Lock()
        self.interrupt = threading.Event()

    def fail_next(self, count: int, status: int, path_prefix: str | None, method: str | None,
                  should_retry: bool | None) -> None:
        if status not in FAULT_ERRORS:
            raise ValueError(f"status must be one of {sorted(FAULT_ERRORS)}")
        self._add(Fault("fail", count, path_prefix, method, status=status, should_retry=should_retry))

    def hang_next(self, count: int, seconds: float, path_prefix: str | None, method: str | None) -> None:
        self._add(Fault("hang", count, path_prefix, method, seconds=seconds))

    def drop_next(self, count: int, path_prefix: str | None, method: str | None) -> None:
        self._add(Fault("drop", count, path_prefix, method))

    def take(self, kinds: tuple[str, ...], method: str, path: str) -> Fault | None:
        """The first pending fault of `kinds` for this request, counted down."""
        with self._lock:
            for fault in self._pending:
                if fault.kind in kinds and fault.matches(method, path):
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self._pending.remove(fault)
                    return fault
        return None

    def clear(self) -> None:
        """Forget pending faults and release every hanging answer at once."""
        with self._lock:
            self._pending.clear()
        self.interrupt.set()
        self.interrupt = threading.Event()

    def _add(self, fault: Fault) -> None:
        if fault.remaining < 1:
            raise ValueError("count must be at least 1")
        with self._lock:
            self._pending.append(fault)

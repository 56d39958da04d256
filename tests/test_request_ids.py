"""Every log line of an invocation carries its request id and whether it was a cold start (Powertools'
inject_lambda_context), the scheduled functions' as well as the routes': how an operator finds one request's lines
in CloudWatch."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from local.runtime import LambdaContext


@pytest.fixture
def log_lines() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """The JSON lines our logger writes from now on, as Lambda ships them (Powertools' formatter)."""
    from billing.observability import logger

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logger.registered_formatter)
    logging.getLogger(logger.service).addHandler(handler)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    logging.getLogger(logger.service).removeHandler(handler)


@pytest.mark.parametrize("function", ["reconcile", "stripe_event_retention"])
def test_a_scheduled_functions_lines_carry_its_request_id(functions, function: str, log_lines) -> None:
    context = LambdaContext(function, memory_limit_in_mb=512, timeout_seconds=300)

    getattr(functions, function)({}, context)

    lines = log_lines()
    assert lines and all(line["function_request_id"] == context.aws_request_id for line in lines)
    assert all(line["function_name"] == function and "cold_start" in line for line in lines)


def test_a_routes_lines_carry_its_request_id(functions, world, token_issuer, log_lines) -> None:
    from harness.events import client_request

    alice = world.contact(world.company())
    context = LambdaContext("ListInvoicesFunction", memory_limit_in_mb=512, timeout_seconds=28)
    wrong_token = client_request("list_invoices", "not-a-token")

    response = functions.list_invoices(wrong_token, context)  # refused: one "request refused" line
    functions.list_invoices(client_request("list_invoices", token_issuer.token(alice.uid)), LambdaContext(
        "ListInvoicesFunction", memory_limit_in_mb=512, timeout_seconds=28))

    assert response["statusCode"] == 401
    lines = log_lines()
    refused = [line for line in lines if line["message"] == "request refused"]
    assert [line["function_request_id"] for line in refused] == [context.aws_request_id]

"""What an operator sees of a request: the metrics our code emits (CloudWatch EMF lines on stdout, as Lambda ships
them) and its log lines at WARNING, read from pytest's captures."""

from __future__ import annotations

import json
import logging
from typing import Any


def emitted_metrics(captured_stdout: str) -> list[dict[str, Any]]:
    """Every EMF document printed: {"name": metric, **dimensions} for each metric in it."""
    found = []
    for line in captured_stdout.splitlines():
        if not line.startswith("{"):
            continue
        document = json.loads(line)
        if "_aws" not in document:
            continue
        for directive in document["_aws"]["CloudWatchMetrics"]:
            dimensions = {name: document[name] for group in directive["Dimensions"] for name in group}
            found += [{"name": metric["Name"], "unit": metric["Unit"], **dimensions}
                      for metric in directive["Metrics"]]
    return found


def warnings_logged(caplog: Any) -> list[tuple[str, dict[str, Any]]]:
    """(message, extra fields) of each WARNING our logger wrote."""
    standard = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
    return [(record.getMessage(), {k: v for k, v in vars(record).items() if k not in standard})
            for record in caplog.records if record.levelname == "WARNING" and record.name == "billing"]

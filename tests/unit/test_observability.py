"""The one metrics object (billing/observability.py): metrics go to the namespace the template sets, and runs
without it (local, tests) use the same one."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from billing import observability
from local.template import literal_environment


@pytest.fixture
def fresh_metrics() -> Iterator[None]:
    """The metrics object is made at the first metric of a container: made again here, and afterwards."""
    observability.metrics.cache_clear()
    yield
    observability.metrics.cache_clear()


def emf_namespaces(stdout: str) -> list[str]:
    documents = [json.loads(line) for line in stdout.splitlines() if line.startswith("{") and '"_aws"' in line]
    return [d["Namespace"] for doc in documents for d in doc["_aws"]["CloudWatchMetrics"]]


def test_the_template_sets_the_namespace_runs_without_it_use() -> None:
    assert literal_environment()["POWERTOOLS_METRICS_NAMESPACE"] == observability.METRICS_NAMESPACE


@pytest.mark.parametrize("namespace", [None, "ClientPortalStaging"])
def test_a_metric_goes_to_the_configured_namespace(namespace: str | None, fresh_metrics: None,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    if namespace is None:
        monkeypatch.delenv("POWERTOOLS_METRICS_NAMESPACE", raising=False)
    else:
        monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", namespace)

    observability.count("UnappliedPayment", reason="amount_mismatch")

    assert emf_namespaces(capsys.readouterr().out) == [namespace or observability.METRICS_NAMESPACE]

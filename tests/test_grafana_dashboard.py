"""The Grafana dashboard (deploy/grafana/pricewatch.json) asks only for metrics the code
registers: a renamed metric breaks this test, not a panel nobody looks at."""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import redis
from prometheus_client import REGISTRY

from pricewatch.keys import Keys
from pricewatch.metrics import FrontierCollector, StreamCollector

DASHBOARD = Path(__file__).resolve().parents[1] / "deploy" / "grafana" / "pricewatch.json"
# every module that defines metrics on the process's registry
METRIC_MODULES = (
    "api.metrics",
    "alerts.metrics",
    "crawler.metrics",
    "pricewatch.ingest.metrics",
    "scheduler.metrics",
)
# what each kind of metric is exposed as
SUFFIXES = {
    "counter": ("_total",),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum"),
    "summary": ("", "_count", "_sum"),
    "info": ("_info",),
}
METRIC_NAME = re.compile(r"\bpricewatch_[a-z0-9_]+")


def registered_names() -> set[str]:
    for module in METRIC_MODULES:
        importlib.import_module(module)
    families = list(REGISTRY.collect())
    # the collectors over Redis describe their families without reading Redis
    client = redis.Redis()  # never connected: describe() asks nothing
    for collector in (FrontierCollector(client, Keys(), 2), StreamCollector(client, Keys(), 2)):
        families.extend(collector.describe())
    return {family.name + suffix for family in families for suffix in SUFFIXES[family.type]}


def registered_labels() -> dict[str, set[str]]:
    """Exposed name -> the label names its samples can carry."""
    for module in METRIC_MODULES:
        importlib.import_module(module)
    labels: dict[str, set[str]] = {}
    # prometheus-client keeps label names on its metric objects and families only
    for collector, names in REGISTRY._collector_to_names.items():
        own = set(getattr(collector, "_labelnames", ()))
        for name in names:
            labels[name] = own | ({"le"} if name.endswith("_bucket") else set())
    client = redis.Redis()
    for collector in (FrontierCollector(client, Keys(), 2), StreamCollector(client, Keys(), 2)):
        for family in collector.describe():
            labels[family.name] = set(family._labelnames)
    return labels


def panels(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for item in items:
        yield item
        yield from panels(item.get("panels", []))


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def test_every_metric_the_dashboard_queries_is_registered() -> None:
    known = registered_names()
    queried: set[str] = set()
    for panel in panels(dashboard()["panels"]):
        for target in panel.get("targets", []):
            names = set(METRIC_NAME.findall(target["expr"]))
            assert names, (panel["title"], target["expr"])
            queried |= names
    assert queried, "no query found"
    assert queried <= known, sorted(queried - known)


# {label="value", ...} right after a metric name, and by (...) / without (...) clauses
SELECTOR = re.compile(r"\b(pricewatch_[a-z0-9_]+)\{([^}]*)\}")
MATCHER = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)")
GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")


def test_every_label_the_dashboard_uses_is_one_its_metrics_carry() -> None:
    """A misspelt label makes a panel silently empty."""
    labels = registered_labels()
    for panel in panels(dashboard()["panels"]):
        for target in panel.get("targets", []):
            expr = target["expr"]
            for name, matchers in SELECTOR.findall(expr):
                for label in MATCHER.findall(matchers):
                    assert label in labels[name], (panel["title"], name, label)
            # what an expression groups by is carried by one of its metrics at least
            carried = set().union(*(labels[n] for n in METRIC_NAME.findall(expr)))
            for clause in GROUPING.findall(expr):
                for label in filter(None, (w.strip() for w in clause.split(","))):
                    assert label in carried, (panel["title"], label)


def test_the_dashboard_covers_every_role() -> None:
    queried = {
        name
        for panel in panels(dashboard()["panels"])
        for target in panel.get("targets", [])
        for name in METRIC_NAME.findall(target["expr"])
    }
    for prefix in (
        "pricewatch_crawler_",
        "pricewatch_frontier_",
        "pricewatch_ingest_",
        "pricewatch_stream_",
        "pricewatch_alerts_",
        "pricewatch_scheduler_",
        "pricewatch_api_",
    ):
        assert any(name.startswith(prefix) for name in queried), prefix


def test_panels_are_well_formed() -> None:
    board = dashboard()
    found = list(panels(board["panels"]))
    ids = [panel["id"] for panel in found]
    assert len(ids) == len(set(ids))
    for panel in found:
        if panel["type"] == "row":
            continue
        # the Prometheus data source is chosen when the dashboard is imported
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["targets"] and panel["description"], panel["title"]
        refs = [target["refId"] for target in panel["targets"]]
        assert len(refs) == len(set(refs)), panel["title"]
    assert board["templating"]["list"][0]["name"] == "datasource"


def test_the_check_catches_an_unknown_metric() -> None:
    known = registered_names()
    assert "pricewatch_crawler_pages_total" in known
    assert "pricewatch_crawler_pages" not in known  # a counter is queried as _total
    assert "pricewatch_ingest_batch_messages_bucket" in known
    assert "pricewatch_stream_lag_seconds" in known

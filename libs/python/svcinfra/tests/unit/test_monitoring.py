"""svcinfra.monitoring without a server: the metric catalog, the PromQL helpers, the model."""

from __future__ import annotations

import importlib

import pytest
from click.testing import CliRunner
from prometheus_client import REGISTRY
from prometheus_client.metrics import MetricWrapperBase

from svcinfra.monitoring import (
    LIBRARY_METRICS,
    HttpServer,
    ServiceMonitoring,
    dashboard_document,
    metric_names,
    monitoring,
    promtool_test_files,
    rules_document,
    sections,
)
from svcinfra.monitoring._examples import counter as _counter

# Every module that defines a metric at import or registers a collector.
METRIC_MODULES = (
    "svcinfra.app._tech",
    "svcinfra.cache._metrics",
    "svcinfra.httpclient._telemetry",
    "svcinfra.messaging.consumer._telemetry",
    "svcinfra.messaging.outbox._relay",
    "svcinfra.messaging.publisher._telemetry",
    "svcinfra.postgres._instrument",
)
FULL = ServiceMonitoring(
    service="orders",
    postgres=True,
    cache=True,
    publish=True,
    consume=True,
    external_api=True,
    http_server=HttpServer(duration_metric="orders_http_request_duration_seconds"),
)


def collectors() -> list[object]:
    """svcinfra's collectors: the default registry's, and those registered only when in use."""
    for module in METRIC_MODULES:
        importlib.import_module(module)
    from svcinfra.app import Lifecycle  # noqa: PLC0415  (after the metric modules)
    from svcinfra.app._tech import _ServiceCollector  # noqa: PLC0415
    from svcinfra.postgres._instrument import _COLLECTOR  # noqa: PLC0415

    service = _ServiceCollector(Lifecycle(), service="orders", env="dev")
    return [*REGISTRY._collector_to_names, service, _COLLECTOR]


def registered() -> dict[str, tuple[str, tuple[str, ...] | None]]:
    """svcinfra's metric families: name -> (type, labels when the collector declares them)."""
    families: dict[str, tuple[str, tuple[str, ...] | None]] = {}
    for collector in collectors():
        labels = None
        if isinstance(collector, MetricWrapperBase):
            labels = tuple(collector._labelnames)
            found = collector.describe()
        else:
            found = collector.collect()  # type: ignore[attr-defined]
        for family in found:
            name = family.name + ("_total" if family.type == "counter" else "")
            if name.startswith(("svcinfra_", "service_")):
                families[name] = (family.type, labels)
    return families


def test_the_catalog_is_every_metric_the_library_registers() -> None:
    """LIBRARY_METRICS lists each svcinfra metric family with its type and labels; no more."""
    found = registered()
    catalog = {m.name: (m.kind, m.labels) for m in LIBRARY_METRICS}
    assert sorted(found) == sorted(catalog)
    for name, (kind, labels) in found.items():
        assert catalog[name][0] == kind, name
        if labels is not None:
            assert catalog[name][1] == labels, name


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ('up{service="a"} == 0', {"up"}),
        ("sum by (le, route) (rate(x_bucket[5m]))", {"x_bucket"}),
        ('(a unless a offset 1h) or increase(a{b="c d"}[15m]) > 2', {"a"}),
        ("r:x:rate5m > (14.4 * 0.001) and on (service) y", {"r:x:rate5m", "y"}),
        ('histogram_quantile(0.99, sum without (pod) (rate(z{q=~"a|b"}[1d])))', {"z"}),
    ],
    ids=["comparison", "grouping", "offset", "recorded", "quantile"],
)
def test_metric_names_finds_the_selected_series(expr: str, names: set[str]) -> None:
    """Functions, keywords, labels, numbers and durations are not taken for series names."""
    assert metric_names(expr) == names


@pytest.mark.parametrize(
    ("segments", "notation"),
    [
        (((10, 1),), "0+1x10"),
        (((3, 0), (2, 20)), "0+0x3 20+20x1"),
        (((2, 1), (2, 0), (1, 5)), "0+1x2 2+0x1 7+5x0"),
    ],
    ids=["one", "two", "three"],
)
def test_counter_notation_grows_as_the_segments_say(
    segments: tuple[tuple[int, float], ...], notation: str
) -> None:
    """Each segment adds its increment a step, after the previous segment's last value."""
    assert _counter(segments) == notation
    values: list[float] = []
    for part in notation.split():
        start, _, rest = part.partition("+")
        step, _, count = rest.partition("x")
        values += [float(start) + float(step) * i for i in range(int(count) + 1)]
    expected = [0.0]
    for steps, increment in segments:
        expected += [expected[-1] + increment] * 0 + [
            expected[-1] + increment * (i + 1) for i in range(steps)
        ]
    assert values == expected


def test_a_service_gets_the_sections_of_its_parts() -> None:
    """The process section always; then one per part the definition turns on."""
    assert [s.key for s in sections(ServiceMonitoring(service="bare"))] == ["process"]
    keys = [s.key for s in sections(FULL)]
    assert keys == ["process", "http", "postgres", "cache", "outbox", "consumer", "external"]


def test_every_expression_is_scoped_to_the_service() -> None:
    """Each raw series selector carries the service's label: one Prometheus, many services."""
    for section in sections(FULL):
        exprs = [r.expr for r in section.records] + [a.expr for a in section.alerts]
        exprs += [q.expr for p in section.panels for q in p.queries]
        for expr in exprs:
            assert 'service="orders"' in expr, expr


def test_alert_names_are_unique_and_each_has_examples_both_ways() -> None:
    """No two alerts share a name; each has a firing and a quiet unit test case."""
    alerts = [a for s in sections(FULL) for a in s.alerts]
    assert len({a.name for a in alerts}) == len(alerts)
    for alert in alerts:
        assert {e.fires for e in alert.examples} == {True, False}, alert.name


def test_rule_groups_and_test_files_are_named_after_the_service() -> None:
    """Groups `orders.<section>`; the 1-minute tests and the slow-burn tests in two files."""
    groups = [g["name"] for g in rules_document(FULL)["groups"]]
    assert groups == [f"orders.{s.key}" for s in sections(FULL)]
    files = promtool_test_files(FULL)
    assert list(files) == ["orders.rules.test.yaml", "orders.rules.test.30m.yaml"]
    assert {f["evaluation_interval"] for f in files.values()} == {"1m", "30m"}


def test_dashboard_has_a_row_per_section() -> None:
    """Rows in section order, each followed by its panels."""
    panels = dashboard_document(FULL)["panels"]
    assert [p["title"] for p in panels if p["type"] == "row"] == [s.title for s in sections(FULL)]
    assert dashboard_document(FULL)["uid"] == "svcinfra-orders"


def test_a_bad_service_name_is_refused() -> None:
    """A name that would break a label value or a file name is an error at definition time."""
    with pytest.raises(ValueError, match="letters, digits"):
        ServiceMonitoring(service='or"ders')


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("svcinfra.monitoring", "expected MODULE:ATTR"),
        ("svcinfra.monitoring:NOPE", "cannot load"),
        ("svcinfra.monitoring:LIBRARY_METRICS", "is not a svcinfra.monitoring.ServiceMonitoring"),
    ],
    ids=["no-attr", "missing", "wrong-type"],
)
def test_cli_names_a_bad_target(target: str, message: str) -> None:
    """`svcinfra monitoring rules` exits 2 with what is wrong with TARGET."""
    result = CliRunner().invoke(monitoring, ["rules", target])
    assert result.exit_code == 2
    assert message in result.output

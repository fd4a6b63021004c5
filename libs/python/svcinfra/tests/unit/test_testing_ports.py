"""`free_port`: ports for the servers a test starts, from `SVCINFRA_PORT_RANGE` when it is set."""

from __future__ import annotations

import pytest

from svcinfra.testing import free_port
from svcinfra.testing._ports import port_range


def test_the_default_range_is_below_the_ephemeral_ports(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SVCINFRA_PORT_RANGE", raising=False)
    assert port_range() == (20_000, 32_000)


def test_a_configured_range_is_used_and_no_port_is_given_twice(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SVCINFRA_PORT_RANGE", "16990-16999")
    picked = [free_port() for _ in range(3)]
    assert all(16990 <= port <= 16999 for port in picked)
    assert len(set(picked)) == 3


@pytest.mark.parametrize("value", ["16800", "16999-16800", "a-b", "0-10", "1-70000"], ids=str)
def test_a_malformed_range_names_the_variable(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("SVCINFRA_PORT_RANGE", value)
    with pytest.raises(ValueError, match="SVCINFRA_PORT_RANGE must be low-high"):
        free_port()

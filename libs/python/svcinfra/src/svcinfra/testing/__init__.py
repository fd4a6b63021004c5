"""Test kit shipped with svcinfra, for the tests of services built on it."""

from ._config import FullConfig, full_environ
from ._logs import CapturedLogs, capture_logs
from ._proxy import FaultProxy
from ._wait import metric_value, until

__all__ = [
    "CapturedLogs",
    "FaultProxy",
    "FullConfig",
    "capture_logs",
    "full_environ",
    "metric_value",
    "until",
]

"""Test kit shipped with svcinfra, for the tests of services built on it."""

from ._config import FullConfig, full_environ
from ._logs import CapturedLogs, capture_logs
from ._pgnode import PrivatePostgres
from ._ports import free_port
from ._proxy import FaultProxy
from ._reaper import PrivateServerError
from ._rediscluster import PrivateRedisCluster
from ._redisnode import PrivateRedis
from ._sentinel import PrivateRedisSentinel
from ._tlscerts import Issued, ServerTls, TestCA
from ._wait import metric_value, until

__all__ = [
    "CapturedLogs",
    "FaultProxy",
    "FullConfig",
    "Issued",
    "PrivatePostgres",
    "PrivateRedis",
    "PrivateRedisCluster",
    "PrivateRedisSentinel",
    "PrivateServerError",
    "ServerTls",
    "TestCA",
    "capture_logs",
    "free_port",
    "full_environ",
    "metric_value",
    "until",
]

"""Each package exports exactly its intended API, in ruff's RUF022 order (httpx's habit)."""

from __future__ import annotations

import importlib
from importlib.metadata import version
from types import ModuleType

import pytest

import svcinfra

EXPECTED = {
    "svcinfra": {"__version__"},
    "svcinfra.config": {
        "ENV_PREFIX",
        "MASK",
        "AmqpSettings",
        "Config",
        "ConfigDefinitionError",
        "ConfigError",
        "ConfigProblem",
        "Env",
        "Environment",
        "HttpServerSettings",
        "NotSecret",
        "ObservabilitySettings",
        "PostgresSettings",
        "RedisSettings",
        "Section",
        "ServiceSettings",
        "SettingError",
        "TlsClient",
        "TlsNames",
        "Variable",
        "client_context",
        "explain_tls_failure",
        "host_list",
        "join_hosts",
        "load_config",
        "looks_secret",
        "mask_url_credentials",
        "render_env_example",
    },
    "svcinfra.app": {
        "EXIT_CONFIG",
        "EXIT_FAILURE",
        "EXIT_FORCED",
        "EXIT_OK",
        "SIGNALS",
        "AllowedMethods",
        "AsgiServer",
        "CheckResult",
        "Lifecycle",
        "LifecycleState",
        "Readiness",
        "RequestTelemetry",
        "ShutdownReport",
        "TechServer",
        "build_tech_app",
        "main",
        "run",
    },
    "svcinfra.observability": {
        "LEVELS",
        "MASK",
        "HttpDurations",
        "SecretMasker",
        "add_trace_ids",
        "configure_logging",
        "configure_tracing",
        "drawn_trace_id",
        "get_logger",
        "http_durations",
        "is_secret_key",
        "mask_secrets",
        "new_trace_id",
        "parse_traceparent",
        "register_secrets",
        "render_metrics",
        "unsampled_span",
    },
    "svcinfra.testing": {
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
    },
}


# Packages checked for order and completeness only; their API is still growing issue by issue.
# (svcinfra.messaging, which also exports a submodule, has its own test in test_messaging_exports.)
GROWING = [
    "svcinfra.cache",
    "svcinfra.check",
    "svcinfra.envtool",
    "svcinfra.httpclient",
    "svcinfra.httpclient.testing",
    "svcinfra.monitoring",
    "svcinfra.postgres",
    "svcinfra.postgres.migrate",
    "svcinfra.provision",
]


def isort_key(name: str) -> tuple[bool, bool, str]:
    """ruff's RUF022 order: CONSTANTS, then Classes, then functions, each alphabetical."""
    return (not name.isupper(), not name[:1].isupper(), name)


def public_names(module: ModuleType) -> set[str]:
    """Names a user can import from `module`: not private, not a submodule."""
    return {
        n
        for n, value in vars(module).items()
        if (not n.startswith("_") or n == "__version__") and not isinstance(value, ModuleType)
    } - {"annotations"}


@pytest.mark.parametrize("name", sorted(EXPECTED), ids=str)
def test_exported_names_are_exactly_the_intended_ones(name: str) -> None:
    """`__all__` is sorted, lists every public name, and is exactly the intended API."""
    module = importlib.import_module(name)

    assert list(module.__all__) == sorted(module.__all__, key=isort_key)
    assert set(module.__all__) == public_names(module) == EXPECTED[name]


@pytest.mark.parametrize("name", GROWING, ids=str)
def test_exported_names_are_sorted_and_complete(name: str) -> None:
    """`__all__` is sorted and lists every public name, and no private module leaks."""
    module = importlib.import_module(name)

    assert list(module.__all__) == sorted(module.__all__, key=isort_key)
    assert set(module.__all__) == public_names(module)


def test_version_is_the_distribution_version() -> None:
    """`svcinfra.__version__` is the installed distribution's version."""
    assert svcinfra.__version__ == version("svcinfra")

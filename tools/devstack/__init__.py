"""The repository's services running together on the loopback servers, as a developer runs them.

The users API and relay, the notifications consumer and relay, fake-mail, and the processes of
every service `svcinfra new service` generated (the plan is read from the service folders,
`_plan.py`), on the local PostgreSQL, Redis and RabbitMQ.

One launcher for `make run`, `make demo`, the cross-service tests and the benchmarks:

    PYTHONPATH=tools .venv/bin/python -m devstack run     # what `make run` does
    PYTHONPATH=tools .venv/bin/python -m devstack demo    # what `make demo` does

    from devstack import Ports, Stack
    with Stack(run_id="t1a2b3", ports=Ports.free(), log_dir=tmp) as stack:
        ...

Importable without installing: put the repository's `tools/` folder on `sys.path`.
"""

from svcinfra.testing import free_port

from ._plan import ROLES, SERVICES, Names, Ports, Role, Service
from ._process import Process, ProcessError, http_status
from ._provision import Grant, ProvisionError, scram_verifier
from ._secrets import Secrets
from ._servers import SHARED, Servers
from ._stack import Stack

__all__ = [
    "ROLES",
    "SERVICES",
    "SHARED",
    "Grant",
    "Names",
    "Ports",
    "Process",
    "ProcessError",
    "ProvisionError",
    "Role",
    "Secrets",
    "Servers",
    "Service",
    "Stack",
    "free_port",
    "http_status",
    "scram_verifier",
]

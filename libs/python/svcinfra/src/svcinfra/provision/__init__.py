"""Per-service accounts on PostgreSQL and RabbitMQ: one provisioning path (CF-4, PG-12, issue 17).

The deploy manifests' init containers (`svcinfra provision postgres`, `svcinfra provision
rabbitmq --contract users`, run from the service's own image) and the local dev stack
(`tools/devstack`) both call this package, so what the tests prove is what is deployed:

    grant = grant_for_contract(load_package_contract("notifications"))
    ensure_postgres(admin_dsn, role="users", database="users", password=password)
    apply_definitions(ManagementApi(url, admin, admin_password),
                      broker_definitions("users", password, "/", grant))

No plain password reaches a server: PostgreSQL gets a SCRAM-SHA-256 verifier computed here
(`ALTER ROLE ... PASSWORD 'SCRAM-SHA-256$4096:...'`), RabbitMQ a salted SHA-256 hash in a
definitions document (`password_hash`, the form RabbitMQ stores; 3.10's `rabbitmqctl add_user`
has no pre-hashed option, definitions import has had one since 3.6). A broker user's
configure / write / read permissions are derived from its AsyncAPI contract: exactly the
exchanges and queues the contract declares, publishes to, binds from and consumes, as anchored
alternations of escaped names.
"""

from ._errors import ProvisionError
from ._grants import DEFAULT_EXCHANGE_RESOURCE, Grant, exact_pattern, grant_for_contract
from ._hashes import rabbitmq_password_hash, scram_verifier
from ._postgres import SSL_MODES, SslMode, drop_postgres, ensure_postgres
from ._rabbitmq import (
    BrokerAdmin,
    ManagementApi,
    Rabbitmqctl,
    apply_definitions,
    broker_definitions,
)

__all__ = [
    "DEFAULT_EXCHANGE_RESOURCE",
    "SSL_MODES",
    "BrokerAdmin",
    "Grant",
    "ManagementApi",
    "ProvisionError",
    "Rabbitmqctl",
    "SslMode",
    "apply_definitions",
    "broker_definitions",
    "drop_postgres",
    "ensure_postgres",
    "exact_pattern",
    "grant_for_contract",
    "rabbitmq_password_hash",
    "scram_verifier",
]

"""`connect_amqp`: one way to open a broker connection, plain or TLS (`amqps`, issue 17).

`AmqpSettings.url()` writes the TLS settings into the URL: aiormq's own keywords (`cafile`,
`certfile`, `keyfile`, `no_verify_ssl`) and `server_name`. aiormq would build a context from the
first four, but checks the certificate against the host it connects to; here the context comes
from `svcinfra.config.client_context`, so that `RABBITMQ_TLS_SERVER_NAME` is the name checked,
and a failed handshake raises an error that names the setting to fix. The publisher, the
consumer, the DLQ tool and the topology tool all connect through here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import aio_pika
from yarl import URL

from svcinfra.config import TlsClient, TlsNames, client_context

if TYPE_CHECKING:
    from aio_pika.abc import AbstractConnection

AMQP_TLS_NAMES = TlsNames.of("RABBITMQ_", switch="TLS", server_name="TLS_SERVER_NAME")


class AmqpTlsError(ConnectionError):
    """The TLS handshake with the broker failed; the message names the setting to fix."""


def amqp_tls_client(url: str) -> TlsClient | None:
    """Return the TLS client an `amqps://` URL describes, None for `amqp://`.

    Raises:
        ConfigError: a certificate or key file of the URL cannot be read.
    """
    parsed = URL(url)
    if parsed.scheme != "amqps":
        return None
    query = parsed.query
    server_name = query.get("server_name")
    ca_file = query.get("cafile")
    context = client_context(
        names=AMQP_TLS_NAMES,
        ca_file=ca_file,
        cert_file=query.get("certfile"),
        key_file=query.get("keyfile"),
        verify=query.get("no_verify_ssl", "0") == "0",
        server_name=server_name,
    )
    return TlsClient(context, server_name or parsed.host or "", ca_file, AMQP_TLS_NAMES)


async def connect_amqp(url: str, **options: Any) -> AbstractConnection:  # noqa: ANN401  (aio_pika.connect's keywords)
    """Open a connection like `aio_pika.connect(url, **options)`, with svcinfra's TLS context.

    Raises:
        AmqpTlsError: the TLS handshake failed (a `ConnectionError`, so retried like one).
        ConfigError: a certificate or key file of the URL cannot be read.
    """
    tls = amqp_tls_client(url)
    if tls is None:
        connection: AbstractConnection = await aio_pika.connect(url, **options)
        return connection
    try:
        connection = await aio_pika.connect(url, ssl_context=tls.context, **options)
    except Exception as exc:
        why = tls.explain(exc)
        if why is None:
            raise
        raise AmqpTlsError(f"cannot connect to the broker: {why}") from exc
    return connection

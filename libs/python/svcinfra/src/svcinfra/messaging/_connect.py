"""`connect_amqp`: one way to open a broker connection, plain or TLS (`amqps`, issue 17).

`AmqpSettings.url()` writes the TLS settings into the URL: aiormq's own keywords (`cafile`,
`certfile`, `keyfile`, `no_verify_ssl`) and `server_name`. aiormq would build a context from the
first four, but checks the certificate against the host it connects to; here the context comes
from `svcinfra.config.client_context`, so that `RABBITMQ_TLS_SERVER_NAME` is the name checked,
and a failed handshake raises an error that names the setting to fix. The publisher, the
consumer, the DLQ tool and the topology tool all connect through here.

A cluster's nodes come as one URL with a host list, `amqp://u:p@a:5672,b:5672,c:5672/vhost?...`
(`AmqpSettings.url()` with `RABBITMQ_HOST=a,b,c`, issue 20). `connect_amqp` splits it into one
URL per node and tries them in turn from a random one (so that clients spread over the nodes and
do not all land on the first survivor), each with its share of the timeout; the first node that
answers wins. When none does, the last node's error is raised (its type decides, as before,
whether the caller retries), with a note naming every node's failure; the publisher's, the
consumer's and the relay's own reconnect loops then back off and call again, so a dead node
costs one refused connect, not a stall.
"""

from __future__ import annotations

import random
import re
from typing import TYPE_CHECKING, Any

import aio_pika
import aiormq
from yarl import URL

from svcinfra.config import TlsClient, TlsNames, client_context

if TYPE_CHECKING:
    from aio_pika.abc import AbstractConnection

AMQP_TLS_NAMES = TlsNames.of("RABBITMQ_", switch="TLS", server_name="TLS_SERVER_NAME")
# scheme://[userinfo@]hosts[/rest]: the host list ends at the first "/", "?" or "#" after it.
_URL_PARTS = re.compile(
    r"(?P<head>[a-z]+://(?:[^@/?#]*@)?)(?P<hosts>[^/?#]*)(?P<tail>.*)", re.DOTALL
)


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


def amqp_node_urls(url: str) -> list[str]:
    """Split a URL with a host list (`amqp://u:p@a:5672,b:5672/v?q`) into one URL per node.

    A URL of one host comes back unchanged, as the only element.
    """
    match = _URL_PARTS.fullmatch(url)
    if match is None or "," not in match["hosts"]:
        return [url]
    head, tail = match["head"], match["tail"]
    return [f"{head}{host.strip()}{tail}" for host in match["hosts"].split(",") if host.strip()]


async def connect_amqp(url: str, **options: Any) -> AbstractConnection:  # noqa: ANN401  (aio_pika.connect's keywords)
    """Open a connection like `aio_pika.connect(url, **options)`, with svcinfra's TLS context.

    `url` may name several nodes of a cluster (a host list, see the module docstring): they are
    tried in turn from a random one, each with `timeout / nodes` seconds (at least one).

    Raises:
        AmqpTlsError: the TLS handshake failed (a `ConnectionError`, so retried like one).
        ConfigError: a certificate or key file of the URL cannot be read.
        Exception: when no node answers, the last node's error, with a note for each node.
    """
    nodes = amqp_node_urls(url)
    if len(nodes) == 1:
        return await _connect_node(url, **options)
    timeout = options.pop("timeout", None)
    if timeout is not None:
        options["timeout"] = max(1.0, float(timeout) / len(nodes))
    start = random.randrange(len(nodes))  # noqa: S311  (spreading clients, not a secret)
    failures: list[str] = []
    for node in nodes[start:] + nodes[:start]:
        try:
            return await _connect_node(node, **options)
        except (ConnectionError, OSError, TimeoutError, aiormq.exceptions.AMQPError) as exc:
            failures.append(f"{URL(node).host}:{URL(node).port}: {exc!r}")
            last = exc
    for failure in failures:
        last.add_note(f"node {failure}")
    raise last


async def _connect_node(url: str, **options: Any) -> AbstractConnection:  # noqa: ANN401  (aio_pika.connect's keywords)
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

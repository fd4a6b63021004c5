"""TLS to PostgreSQL, Redis and RabbitMQ: client contexts from settings, errors naming the setting.

Every connection setting section (`PostgresSettings`, `RedisSettings`, `AmqpSettings`) carries the
same TLS knobs, each with its own variables (issue 17):

- a CA file (`*_CA_FILE`), the PEM bundle that signs the server's certificate, mounted from a
  Secret; unset, the system's trust store;
- an optional client certificate and key (`*_CERT_FILE`, `*_KEY_FILE`), for servers that
  authenticate clients by certificate;
- the server name checked against the certificate (`*_TLS_SERVER_NAME` for Redis and RabbitMQ;
  PostgreSQL checks `POSTGRES_HOST`, as libpq does);
- `*_ALLOW_INSECURE`: the reason a plaintext or unverified connection is accepted in staging or
  prod, where it is otherwise a configuration error.

`client_context` builds the `ssl.SSLContext` the drivers take; `explain_tls_failure` turns the
`ssl` error of a failed handshake into a sentence that names the setting to fix, so that a wrong
CA or a wrong server name is not just "certificate verify failed" deep in a driver's traceback.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._errors import ConfigError, ConfigProblem

if TYPE_CHECKING:
    from ssl import SSLObject, SSLSession

# OpenSSL's X509_V_ERR_* codes a failed verification carries in `verify_code`.
_HOSTNAME_MISMATCH = frozenset({62, 63, 64})  # host name, e-mail, IP address mismatch
_EXPIRED = frozenset({9, 10})  # not yet valid, expired


@dataclass(frozen=True, slots=True)
class TlsNames:
    """The variables a TLS failure is blamed on (base names, without the service's prefix).

    Attributes:
        switch: the variable that turns TLS on (`REDIS_TLS`) or sets its mode (`POSTGRES_SSLMODE`).
        ca_file: the CA bundle's variable.
        cert_file: the client certificate's variable.
        key_file: the client key's variable.
        server_name: the variable whose value the certificate must name.
        port: the port's variable (a plaintext listener answers a TLS handshake with garbage).
    """

    switch: str
    ca_file: str
    cert_file: str
    key_file: str
    server_name: str
    port: str

    @classmethod
    def of(cls, section: str, *, switch: str, server_name: str) -> TlsNames:
        """Return the names of `section` (`REDIS_`), its switch and its server name variable."""
        return cls(
            switch=f"{section}{switch}",
            ca_file=f"{section}CA_FILE",
            cert_file=f"{section}CERT_FILE",
            key_file=f"{section}KEY_FILE",
            server_name=f"{section}{server_name}",
            port=f"{section}PORT",
        )


@dataclass(frozen=True, slots=True)
class TlsClient:
    """What a driver needs to connect with TLS, and how to explain a failed handshake.

    Attributes:
        context: the client context (CA, client certificate, verification, server name).
        server_name: the name the server's certificate must carry.
        ca_file: the CA bundle in use, None for the system's trust store.
        names: the variables to blame.
    """

    context: ssl.SSLContext
    server_name: str
    ca_file: str | None
    names: TlsNames

    def explain(self, exc: BaseException) -> str | None:
        """Return a sentence naming the setting to fix, or None when `exc` is no TLS failure."""
        return explain_tls_failure(
            exc, names=self.names, server_name=self.server_name, ca_file=self.ca_file
        )


class _NamedContext(ssl.SSLContext):
    """A client context that checks the certificate against a fixed server name.

    asyncio passes the host it connects to as `server_hostname`; a server reached by address
    (or through a tunnel) whose certificate names another host needs the name set apart from
    the address (`REDIS_TLS_SERVER_NAME`, `RABBITMQ_TLS_SERVER_NAME`). The name is also the SNI.
    asyncio (which every driver here runs on) wraps its transports with `wrap_bio`.
    """

    svcinfra_server_name: str | None = None

    def wrap_bio(
        self,
        incoming: ssl.MemoryBIO,
        outgoing: ssl.MemoryBIO,
        server_side: bool = False,  # noqa: FBT001, FBT002  (ssl's signature)
        server_hostname: str | bytes | None = None,
        session: SSLSession | None = None,
    ) -> SSLObject:
        """Wrap as `ssl.SSLContext.wrap_bio`, with the configured server name."""
        name = self.svcinfra_server_name or server_hostname
        return super().wrap_bio(incoming, outgoing, server_side, name, session)


def client_context(
    *,
    names: TlsNames,
    ca_file: str | None,
    cert_file: str | None,
    key_file: str | None,
    verify: bool = True,
    check_hostname: bool = True,
    server_name: str | None = None,
) -> ssl.SSLContext:
    """Build the client context: TLS 1.2 or newer, the CA (or the system's), the client pair.

    Raises:
        ConfigError: a file cannot be read or is not what its variable says (named, with the
            path, never the file's content).
    """
    context = _NamedContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.svcinfra_server_name = server_name
    if verify:
        context.verify_mode = ssl.CERT_REQUIRED
        context.check_hostname = check_hostname
        if ca_file:
            _load(names.ca_file, ca_file, lambda: context.load_verify_locations(cafile=ca_file))
        else:
            context.load_default_certs(ssl.Purpose.SERVER_AUTH)
    else:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if cert_file:
        _load(
            f"{names.cert_file} / {names.key_file}",
            f"{cert_file} / {key_file}",
            lambda: context.load_cert_chain(cert_file, key_file),
        )
    return context


def _load(variable: str, path: str, load: Any) -> None:  # noqa: ANN401  (a loader callback)
    try:
        load()
    except FileNotFoundError as exc:
        raise _problem(variable, f"{path}: no such file ({exc.strerror})") from exc
    except PermissionError as exc:
        raise _problem(variable, f"{path}: cannot read it ({exc.strerror})") from exc
    except (ssl.SSLError, OSError) as exc:
        raise _problem(variable, f"{path}: not a usable PEM file ({exc})") from exc


def _problem(variable: str, message: str) -> ConfigError:
    return ConfigError((ConfigProblem(variable, message),))


def explain_tls_failure(  # noqa: PLR0911  (one sentence per kind of failure)
    exc: BaseException,
    *,
    names: TlsNames,
    server_name: str,
    ca_file: str | None,
) -> str | None:
    """Return why a TLS handshake failed, naming the variable to fix; None when it did not.

    Looks through the exception's causes: drivers wrap the `ssl` error in their own.
    """
    error = _ssl_error(exc)
    if error is None:
        return None
    trust = f"{names.ca_file}={ca_file}" if ca_file else f"{names.ca_file} unset: system CAs"
    if isinstance(error, ssl.SSLCertVerificationError):
        code = error.verify_code
        detail = error.verify_message or str(error)
        if code in _HOSTNAME_MISMATCH:
            return (
                f"TLS: the server's certificate is not valid for {server_name!r} ({detail}); "
                f"check {names.server_name}, the name the certificate must carry"
            )
        if code in _EXPIRED:
            return f"TLS: the server's certificate is expired or not yet valid ({detail})"
        return (
            f"TLS: the server's certificate is not signed by a trusted CA ({detail}; {trust}); "
            f"check {names.ca_file}"
        )
    reason = (error.reason or str(error)).upper()
    if "CERTIFICATE_REQUIRED" in reason:
        return (
            f"TLS: the server requires a client certificate; set {names.cert_file} and "
            f"{names.key_file}"
        )
    if any(word in reason for word in ("UNKNOWN_CA", "BAD_CERTIFICATE", "CERTIFICATE_UNKNOWN")):
        return (
            f"TLS: the server refused the client certificate ({error.reason}); check "
            f"{names.cert_file} and {names.key_file}"
        )
    if "WRONG_VERSION_NUMBER" in reason or "RECORD_LAYER_FAILURE" in reason:
        return (
            f"TLS: the server does not speak TLS on this port ({error.reason}); check "
            f"{names.port} and {names.switch}"
        )
    return f"TLS handshake failed ({error.reason or error}); check {names.switch}"


def _ssl_error(exc: BaseException) -> ssl.SSLError | None:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None

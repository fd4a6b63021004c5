"""Password verifiers computed on the client, so that no server ever receives a plain password."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

SCRAM_ITERATIONS = 4096
RABBITMQ_HASHING = "rabbit_password_hashing_sha256"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def scram_verifier(password: str, *, salt: bytes | None = None) -> str:
    """Return PostgreSQL's stored form of `password` (`SCRAM-SHA-256$<iter>:<salt>$<keys>`).

    The computation libpq's `PQencryptPasswordConn` makes (RFC 5802, RFC 7677). PostgreSQL stores
    a string in this form as it is, whatever `password_encryption` says, so `ALTER ROLE ...
    PASSWORD '<verifier>'` puts only the verifier into the statement log.
    """
    salt = salt if salt is not None else secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, SCRAM_ITERATIONS)
    client_key = hmac.digest(salted, b"Client Key", "sha256")
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.digest(salted, b"Server Key", "sha256")
    return f"SCRAM-SHA-256${SCRAM_ITERATIONS}:{_b64(salt)}${_b64(stored_key)}:{_b64(server_key)}"


def rabbitmq_password_hash(password: str, *, salt: bytes | None = None) -> str:
    """Return RabbitMQ's stored form of `password` for `rabbit_password_hashing_sha256`.

    base64(salt ++ SHA-256(salt ++ UTF-8 password)) with a 4-byte salt, as
    `rabbit_password:hash/2` computes it; definitions take it as `password_hash`.
    """
    salt = salt if salt is not None else secrets.token_bytes(4)
    return _b64(salt + hashlib.sha256(salt + password.encode()).digest())

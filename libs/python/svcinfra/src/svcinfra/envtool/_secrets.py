"""Secure generation of secret values, by the kind a secret's name says it is (CF-5).

| kind       | the name has a part     | value                                   | strength  |
|------------|-------------------------|-----------------------------------------|-----------|
| `password` | PASSWORD, PASSWD, PWD, PASSPHRASE | 32 ASCII letters and digits   | 190 bits  |
| `key`      | KEY, APIKEY             | 64 lowercase hex digits (32 bytes)      | 256 bits  |
| `token`    | anything else (TOKEN, SECRET, AUTH, ...) | 43 URL-safe base64 characters | 256 bits |

Why these alphabets: a password ends up in DSNs, `psql -v`, shell and YAML, where letters and
digits need no quoting; a key is often used as raw bytes (HMAC, encryption) and hex is its
unambiguous spelling; a token travels in headers and URLs, where URL-safe base64 is at home.
Values come from `secrets` (the OS's CSPRNG), never end in a newline (`gh secret set` would trim
it) and are never printed, logged or put on a command line.
"""

from __future__ import annotations

import re
import secrets
import string
from enum import StrEnum

_PARTS = re.compile(r"[^A-Z0-9]+")
_PASSWORD_WORDS = frozenset({"PASSWORD", "PASSWD", "PWD", "PASSPHRASE"})
_KEY_WORDS = frozenset({"KEY", "APIKEY"})

PASSWORD_ALPHABET = string.ascii_letters + string.digits
KEY_ALPHABET = "0123456789abcdef"
TOKEN_ALPHABET = string.ascii_letters + string.digits + "-_"


class SecretKind(StrEnum):
    """What a secret is, which decides how it is generated (see the module's table)."""

    PASSWORD = "password"  # noqa: S105  (a kind, not a password)
    KEY = "key"
    TOKEN = "token"  # noqa: S105  (a kind, not a token)

    @property
    def length(self) -> int:
        """The number of characters of a generated value."""
        return _LENGTH[self]

    @property
    def alphabet(self) -> str:
        """The characters a generated value is made of."""
        return _ALPHABET[self]

    @property
    def summary(self) -> str:
        """How a value of this kind is generated, for plans and `.env.example` readers."""
        return _SUMMARY[self]


_LENGTH = {SecretKind.PASSWORD: 32, SecretKind.KEY: 64, SecretKind.TOKEN: 43}
_ALPHABET = {
    SecretKind.PASSWORD: PASSWORD_ALPHABET,
    SecretKind.KEY: KEY_ALPHABET,
    SecretKind.TOKEN: TOKEN_ALPHABET,
}
_SUMMARY = {
    SecretKind.PASSWORD: "32 letters and digits",
    SecretKind.KEY: "64 hex digits",
    SecretKind.TOKEN: "43 URL-safe base64 characters",
}


def secret_kind(name: str) -> SecretKind:
    """Return the kind of the secret called `name` (a password part wins over a key part)."""
    parts = set(_PARTS.split(name.upper()))
    if parts & _PASSWORD_WORDS:
        return SecretKind.PASSWORD
    if parts & _KEY_WORDS:
        return SecretKind.KEY
    return SecretKind.TOKEN


def generate_secret(kind: SecretKind) -> str:
    """Return a new random value of `kind` from the OS's CSPRNG."""
    if kind is SecretKind.KEY:
        return secrets.token_hex(32)
    if kind is SecretKind.TOKEN:
        return secrets.token_urlsafe(32)
    return "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(kind.length))

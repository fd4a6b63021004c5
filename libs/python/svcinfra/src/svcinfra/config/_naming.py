"""Names: which setting names mean a secret, and masking of credentials inside URLs."""

from __future__ import annotations

import re

MASK = "***"

# A name is secret-looking when one of its snake_case parts is one of these words (CF-3).
SECRET_WORDS = frozenset(
    {
        "apikey",
        "auth",
        "authorization",
        "cookie",
        "credential",
        "credentials",
        "key",
        "passphrase",
        "passwd",
        "password",
        "pwd",
        "secret",
        "token",
    },
)

_PARTS = re.compile(r"[^a-z0-9]+")
# scheme://user:password@host. The password runs to the last "@" before a "/" or a space, so that
# an unencoded "@" in it cannot leave its tail visible; this over-masks "@" in a query string.
_URL_PASSWORD = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/?#@]*:)[^\s/]*@")


def looks_secret(name: str) -> bool:
    """Tell whether a field, variable or header name says that its value is a secret."""
    return any(part in SECRET_WORDS for part in _PARTS.split(name.lower()))


def mask_url_credentials(text: str) -> str:
    """Replace the password of every `scheme://user:password@` in `text` with `***`."""
    if "://" not in text:  # the common case, and much cheaper than the regex
        return text
    return _URL_PASSWORD.sub(rf"\g<head>{MASK}@", text)

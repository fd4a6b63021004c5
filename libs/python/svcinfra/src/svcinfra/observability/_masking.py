"""Masking of secrets in log events: registered values, secret-named keys, URL passwords (CF-3)."""

from __future__ import annotations

import contextlib
import functools
import json
import re
import threading
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, quote_plus

from svcinfra.config import MASK, mask_url_credentials

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, MutableMapping


# Key names whose value is masked whole. Substrings of the key with separators removed
# (`db_password`, `X-Api-Key`, `accessToken`) ...
_SECRET_KEY_STEMS = (
    "accesskey",
    "apikey",
    "authorization",
    "cookie",
    "credential",
    "passphrase",
    "passwd",
    "password",
    "privatekey",
    "secret",
    "sessionid",
    "token",
)
# ... and whole words of it, too short to be searched as substrings (`auth` is in `author`).
_SECRET_KEY_WORDS = frozenset({"auth", "bearer", "jwt", "otp", "pass", "pwd"})
# Keys holding a connection string: also masked when it has credentials but no scheme.
_CONNECTION_KEY_WORDS = frozenset({"conninfo", "dsn", "uri", "url"})

_KEY_WORDS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")
_NOT_ALNUM = re.compile(r"[^a-z0-9]")

_SCHEMELESS_PASSWORD = re.compile(r"^(?P<head>[^\s:/?#@]*:)[^\s/]*@")
# password=..., "token": "...", Authorization: Bearer ... inside free text, libpq DSNs, queries.
_PAIR = re.compile(
    r"(?i)(?P<head>(?:password|passwd|pwd|secret|token|api[_-]?key|authorization)"
    r"[\w.-]*[\"']?\s*[=:]\s*)"
    r"(?:(?:bearer|basic|digest)\s+)?(?:\"[^\"]*\"|'[^']*'|[^\s,;&\"'}\])]+)",
)

_PAIR_HINT = re.compile(r"pass|pwd|secret|token|api.?key|authorization")
# Top-level fields that svcinfra's own processors fill; nothing else writes them.
_OWN_FIELDS = frozenset({"timestamp", "level", "logger", "service", "trace_id", "span_id"})


def _variants(secret: str) -> Iterator[str]:
    """Yield the forms a secret takes in text: plain, URL-encoded, JSON- and repr-escaped."""
    yield secret
    # Lone surrogates cannot be URL-encoded (nor appear in a URL); the other forms still apply.
    with contextlib.suppress(UnicodeEncodeError):
        yield quote(secret, safe="")
        yield quote_plus(secret)
    yield json.dumps(secret)[1:-1]
    yield json.dumps(secret, ensure_ascii=False)[1:-1]
    yield repr(secret)[1:-1]


@functools.lru_cache(maxsize=4096)
def is_secret_key(key: str) -> bool:
    """Tell whether a log key names a value that is a secret as a whole (`password`, `apiKey`).

    `key` alone is not secret-looking: cache keys and routing keys are logged all the time.
    """
    flat = _NOT_ALNUM.sub("", key.lower())
    if any(stem in flat for stem in _SECRET_KEY_STEMS):
        return True
    return any(word.lower() in _SECRET_KEY_WORDS for word in _KEY_WORDS.findall(key))


@functools.lru_cache(maxsize=4096)
def _is_connection_key(key: str) -> bool:
    return any(word.lower() in _CONNECTION_KEY_WORDS for word in _KEY_WORDS.findall(key))


class SecretMasker:
    """A structlog processor that replaces secrets anywhere in an event dict with ``***``.

    Three rules apply to every string value, however deeply nested in dicts, lists, tuples and
    sets, and to the keys of nested dicts (top-level keys are the code's own field names):

    1. every registered secret value, and its URL-encoded, JSON- and repr-escaped forms, is
       replaced wherever it occurs (one precompiled regex, longest secret first);
    2. the value of a key that names a secret (`password`, `db_password`, `apiKey`, `token`,
       `Authorization`, `cookie`, ...) is replaced whole, whatever its type, unless it is None;
    3. the password of a URL with credentials (`scheme://user:password@host`), the value of a
       `password=...`/`token: ...` pair in free text, and the credentials of a schemeless
       connection string under a `dsn`/`url` key are replaced.

    Every non-empty secret is masked, however short: a one-character secret masks that character
    everywhere, which is the price of never leaking it. Values that are not strings, numbers,
    containers or None are turned into text first, as structlog's JSON renderer would
    (`__structlog__()` or `repr()`), so their text is masked too. Run it last, just before the
    renderer, so that nothing added later bypasses it. The fields svcinfra's own processors
    write (`timestamp`, `level`, `logger`, `service`, `trace_id`, `span_id`) are left as they are,
    which keeps the cost near 10 µs for a typical line.
    """

    __slots__ = ("_lock", "_pattern", "_secrets")

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._secrets: frozenset[str] = frozenset()
        self._pattern: re.Pattern[str] | None = None
        self.register(secrets)

    def register(self, secrets: Iterable[str]) -> None:
        """Add secret values to mask from now on; empty strings are ignored."""
        with self._lock:
            added = {v for s in secrets if s for v in _variants(s) if v}
            if added <= self._secrets:
                return
            self._secrets |= added
            # Longest first: a secret that contains another is masked whole.
            alternatives = sorted(self._secrets, key=lambda s: (-len(s), s))
            self._pattern = re.compile("|".join(map(re.escape, alternatives)))

    def clear(self) -> None:
        """Forget every registered secret value."""
        with self._lock:
            self._secrets = frozenset()
            self._pattern = None

    @property
    def secrets(self) -> frozenset[str]:
        """Every value masked by rule 1, with its variants."""
        return self._secrets

    def mask_text(self, text: str) -> str:
        """Return `text` with registered secrets, URL passwords and secret pairs masked."""
        pattern = self._pattern
        if pattern is not None:
            text = pattern.sub(MASK, text)
        text = mask_url_credentials(text)
        # Cheap tests first: a case-insensitive alternation scans slowly, and most text has none.
        if ("=" in text or ":" in text) and _PAIR_HINT.search(text.lower()):
            text = _PAIR.sub(rf"\g<head>{MASK}", text)
        return text

    def mask_value(self, value: object) -> object:
        """Return `value` with every string in it masked; containers become dicts and lists."""
        if isinstance(value, str):
            return self.mask_text(value)
        if value is None or isinstance(value, bool | int | float):
            return value
        if isinstance(value, dict):
            return self._mask_mapping(value)
        if isinstance(value, list | tuple | set | frozenset):
            return [self.mask_value(item) for item in value]
        structlog_repr = getattr(value, "__structlog__", None)
        text = structlog_repr() if callable(structlog_repr) else repr(value)
        return self.mask_text(str(text))

    def _mask_mapping(self, mapping: dict[Any, Any], *, top_level: bool = False) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        for key, value in mapping.items():
            if top_level and key in _OWN_FIELDS and isinstance(value, str):
                out[key] = value
                continue
            # Top-level keys are the code's field names: masking them would only break the schema.
            masked_key = key if top_level or not isinstance(key, str) else self.mask_text(key)
            if isinstance(key, str) and value is not None and is_secret_key(key):
                out[masked_key] = MASK
            elif isinstance(key, str) and isinstance(value, str) and _is_connection_key(key):
                schemeless = _SCHEMELESS_PASSWORD.sub(rf"\g<head>{MASK}@", value)
                out[masked_key] = self.mask_text(schemeless)
            else:
                out[masked_key] = self.mask_value(value)
        return out

    def __call__(
        self,
        _logger: object,
        _method_name: str,
        event_dict: MutableMapping[str, Any],
    ) -> MutableMapping[str, Any]:
        """Return the event dict masked (the structlog processor protocol)."""
        return self._mask_mapping(dict(event_dict), top_level=True)


# The process-wide masker used by `configure_logging`; `register_secrets` adds to it.
MASKER = SecretMasker()


def register_secrets(secrets: Iterable[str]) -> None:
    """Mask these values in every log line from now on (e.g. a token fetched at run time)."""
    MASKER.register(secrets)


def mask_secrets(text: str) -> str:
    """Return `text` masked as a log line would be: for messages that leave the process."""
    return MASKER.mask_text(text)

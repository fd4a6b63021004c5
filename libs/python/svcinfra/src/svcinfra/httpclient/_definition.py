"""Checks that make a wrong adapter fail where it is written; the key's auth (EX-1, EX-2, EX-5)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import httpx

from svcinfra.config import looks_secret

from ._errors import AdapterDefinitionError
from ._settings import TIMEOUT_FIELDS, HttpClientSettings

if TYPE_CHECKING:
    from collections.abc import Generator

    from pydantic import SecretStr

    from ._client import ApiClient

MAX_SECONDS = 3600.0  # the bound of every Seconds setting
_NAME = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


class KeyAuth(httpx.Auth):
    """Puts the key in its header at send time, so it never sits in the client's own headers."""

    def __init__(self, header: str, scheme: str | None, key: SecretStr) -> None:
        self._header = header
        self._value = f"{scheme} {key.get_secret_value()}" if scheme else key.get_secret_value()

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Set the auth header on the request (the only step)."""
        request.headers[self._header] = self._value
        yield request

    def __repr__(self) -> str:
        return f"KeyAuth(header={self._header!r}, value='***')"


def check_adapter_class(cls: type[ApiClient]) -> None:
    """Refuse a subclass with a bad name, bad header names or a hard-coded credential header.

    Raises:
        AdapterDefinitionError: naming the class and the rule.
    """
    where = f"{cls.__module__}.{cls.__qualname__}"
    if "name" in cls.__dict__ and not _NAME.match(str(cls.__dict__["name"])):
        raise AdapterDefinitionError(f"{where}.name must be lowercase kebab-case")
    for header in (cls.auth_header, cls.idempotency_header):
        if header is not None and not _HEADER_NAME.match(header):
            raise AdapterDefinitionError(f"{where}: {header!r} is not a valid header name")
    for header in cls.default_headers:
        if looks_secret(header):
            raise AdapterDefinitionError(
                f"{where}.default_headers[{header!r}]: credentials come only from the "
                "settings' api_key, a SecretStr read from a Secret (EX-5)",
            )


def check_adapter_name(cls: type[ApiClient]) -> str:
    """Return the adapter's name, refusing a class that has none (EX-1)."""
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not _NAME.match(name):
        raise AdapterDefinitionError(
            f"{cls.__qualname__} must set `name` (lowercase kebab-case): it labels the "
            "adapter's logs, metrics and errors (EX-1)",
        )
    return name


def check_settings(owner: str, settings: object) -> None:
    """Refuse settings that are not an `HttpClientSettings` with every timeout set (EX-2)."""
    if not isinstance(settings, HttpClientSettings):
        raise AdapterDefinitionError(
            f"{owner} needs an HttpClientSettings instance, not {type(settings).__name__}",
        )
    for field in (*TIMEOUT_FIELDS, "deadline"):
        # model_construct() skips validation; a client without every timeout is refused anyway.
        value = getattr(settings, field, None)
        if not isinstance(value, int | float) or not 0 < value <= MAX_SECONDS:
            raise AdapterDefinitionError(
                f"{owner}: settings.{field} must be set to a positive number of seconds (EX-2)",
            )

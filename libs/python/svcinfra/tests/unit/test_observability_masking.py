"""Secrets never reach a log line: registered values, secret-named keys, URL passwords (CF-3)."""

from __future__ import annotations

import json
import logging
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from svcinfra.observability import (
    MASK,
    SecretMasker,
    get_logger,
    is_secret_key,
    mask_secrets,
    register_secrets,
)
from svcinfra.testing import capture_logs

SECRET = "hunter2-Xq9"  # noqa: S105  (the test secret)


def fail(message: str) -> None:
    raise RuntimeError(message)


def strings(value: object) -> list[str]:
    """Every string in a parsed JSON value, keys included."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in [k, *strings(v)]]
    if isinstance(value, list):
        return [s for item in value for s in strings(item)]
    return []


def mask(event: dict[str, object], *secrets: str) -> dict[str, object]:
    return dict(SecretMasker(secrets)(None, "info", dict(event)))


def test_registered_secret_is_masked_inside_nested_values_and_keys() -> None:
    """A registered value is replaced in every value and nested key: dicts, lists, tuples, sets."""
    event = {
        "event": f"login with {SECRET} failed",
        "request": {"body": [f"x{SECRET}y", ("a", SECRET)], SECRET: 1},
        "seen": {SECRET},
    }

    masked = mask(event, SECRET)

    assert SECRET not in json.dumps(masked)
    assert masked["event"] == f"login with {MASK} failed"
    assert masked["request"] == {"body": [f"x{MASK}y", ["a", MASK]], MASK: 1}


@pytest.mark.parametrize(
    "form",
    [
        quote(SECRET + "/@ :", safe=""),
        quote_plus(SECRET + "/@ :"),
        json.dumps(SECRET + '"\\')[1:-1],
    ],
    ids=["url-encoded", "form-encoded", "json-escaped"],
)
def test_encoded_forms_of_a_secret_are_masked(form: str) -> None:
    """The URL-, form- and JSON-escaped forms of a registered secret are masked too."""
    secret = SECRET + ("/@ :" if "%" in form or "+" in form else '"\\')

    assert mask({"event": f"<{form}>"}, secret)["event"] == f"<{MASK}>"


def test_longest_secret_wins_when_secrets_overlap() -> None:
    """A secret that contains another registered secret is masked whole, leaving no tail."""
    assert mask({"event": "abc-123-xyz"}, "123", "abc-123-xyz")["event"] == MASK


@pytest.mark.parametrize(
    "key",
    [
        "password",
        "db_password",
        "POSTGRES_PASSWORD",
        "passwd",
        "pwd",
        "apiKey",
        "x-api-key",
        "api_key",
        "access_token",
        "refreshToken",
        "Authorization",
        "set-cookie",
        "client_secret",
        "private_key",
        "credentials",
        "auth",
        "sessionid",
    ],
    ids=str,
)
def test_secret_named_keys_are_masked_whole(key: str) -> None:
    """The value under a key that names a secret is replaced whole, whatever its type."""
    masked = mask({"event": "e", key: "plain", "nested": {key: {"any": ["thing"]}}})

    assert masked[key] == MASK
    assert masked["nested"] == {key: MASK}
    assert is_secret_key(key)


@pytest.mark.parametrize(
    "key",
    ["key", "cache_key", "routing_key", "author", "user_id", "event", "passenger_count"],
    ids=str,
)
def test_ordinary_keys_are_left_alone(key: str) -> None:
    """Keys such as a cache `key` or `author` are not mistaken for secrets."""
    assert mask({"event": "e", key: "value"})[key] == "value"
    assert not is_secret_key(key)


def test_none_under_a_secret_key_stays_none() -> None:
    """An unset secret shows as null, so a log still tells set from unset."""
    assert mask({"event": "e", "password": None})["password"] is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("postgres://users:pw@db:5432/users", f"postgres://users:{MASK}@db:5432/users"),
        ("redis://:pw@cache:6379/0", f"redis://:{MASK}@cache:6379/0"),
        ("amqp://u:p%40w@mq/vh?x=1", f"amqp://u:{MASK}@mq/vh?x=1"),
        ("dsn postgres://u:p@ss@db/x ok", f"dsn postgres://u:{MASK}@db/x ok"),
        ("https://example.com:8443/a@b", "https://example.com:8443/a@b"),
        ("https://user@example.com/", "https://user@example.com/"),
    ],
    ids=["postgres", "redis-no-user", "encoded", "unencoded-at", "port-not-user", "no-password"],
)
def test_url_passwords_are_masked(text: str, expected: str) -> None:
    """The password of scheme://user:password@host is masked; URLs without one are unchanged."""
    assert mask({"event": text})["event"] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("host=db password=pw user=u", f"host=db password={MASK} user=u"),
        ("password='p w' dbname=x", f"password={MASK} dbname=x"),
        ('{"api_key": "k1"}', f'{{"api_key": {MASK}}}'),
        ("Authorization: Bearer abc.def", f"Authorization: {MASK}"),
        ("GET /cb?token=t1&state=s", f"GET /cb?token={MASK}&state=s"),
    ],
    ids=["libpq", "quoted", "json-text", "header", "query"],
)
def test_secret_pairs_in_free_text_are_masked(text: str, expected: str) -> None:
    """`password=...`, `"api_key": ...`, `Authorization: Bearer ...` in free text are masked."""
    assert mask({"event": text})["event"] == expected


def test_schemeless_connection_string_under_a_dsn_key_is_masked() -> None:
    """A `user:password@host` value under a dsn/url key is masked even without a scheme."""
    assert (
        mask({"event": "e", "redis_url": "u:pw@cache:6379"})["redis_url"] == f"u:{MASK}@cache:6379"
    )


def test_objects_are_rendered_and_masked() -> None:
    """An arbitrary object is rendered with repr() and masked, so it cannot carry a secret out."""

    class Client:
        def __repr__(self) -> str:
            return f"Client(token={SECRET})"

    assert mask({"event": "e", "client": Client()}, SECRET)["client"] == f"Client(token={MASK})"


def test_secrets_registered_later_are_masked_in_later_lines() -> None:
    """`register_secrets` masks a value fetched at run time in every line logged afterwards."""
    with capture_logs() as logs:
        log = get_logger("t")
        log.info("before", value="late-secret-1")
        register_secrets(["late-secret-1"])
        log.info("after", value="late-secret-1")

    before, after = logs.entries
    assert before["value"] == "late-secret-1"
    assert after["value"] == MASK


def test_mask_secrets_masks_text_like_a_log_line() -> None:
    """`mask_secrets` applies the process masker to a text that leaves the process."""
    with capture_logs(secrets=[SECRET]):
        assert mask_secrets(f"x {SECRET} postgres://u:p@h/d") == f"x {MASK} postgres://u:{MASK}@h/d"


def test_stdlib_lines_are_masked() -> None:
    """A third-party stdlib logger's line, args included, is masked like structlog's."""
    with capture_logs(secrets=[SECRET]) as logs:
        logging.getLogger("asyncpg.pool").warning("connect %s failed", f"postgres://u:{SECRET}@h/d")

    assert SECRET not in logs.text
    assert logs.entries[0]["event"] == f"connect postgres://u:{MASK}@h/d failed"


def test_exception_text_is_masked() -> None:
    """The rendered traceback is masked too: an exception message may hold a secret."""
    with capture_logs(secrets=[SECRET]) as logs:
        try:
            fail(f"cannot log in with {SECRET}")
        except RuntimeError:
            get_logger("t").exception("failed")

    assert SECRET not in logs.text
    assert f"RuntimeError: cannot log in with {MASK}" in logs.entries[0]["exception"]


# A secret cannot contain the mask character: masking "*" would leave "***" containing it.
secrets_strategy = st.text(min_size=1, max_size=24).filter(lambda s: "*" not in s)


@given(prefix=st.text(max_size=40), secret=secrets_strategy, suffix=st.text(max_size=40))
def test_masker_removes_any_secret_from_any_text(prefix: str, secret: str, suffix: str) -> None:
    """For any non-empty secret embedded in arbitrary text, the masked text does not contain it."""
    masked = mask({"event": prefix + secret + suffix, "extra": [suffix + secret]}, secret)

    assert secret not in masked["event"]
    assert secret not in masked["extra"][0]  # type: ignore[index]


@settings(max_examples=50)
@given(prefix=st.text(max_size=30), secret=secrets_strategy, suffix=st.text(max_size=30))
def test_rendered_line_never_contains_a_registered_secret(
    prefix: str,
    secret: str,
    suffix: str,
) -> None:
    """For any secret embedded in arbitrary text, the rendered JSON line does not carry it."""
    with capture_logs(service="svc", secrets=[secret]) as logs:
        get_logger("t").info(prefix + secret + suffix, detail=[{"note": secret + suffix}])
        logging.getLogger("lib").info("%s", prefix + secret)

    structlog_line, stdlib_line = logs.entries
    assert secret not in structlog_line["event"]
    assert not any(secret in text for text in strings(structlog_line["detail"]))
    assert secret not in stdlib_line["event"]

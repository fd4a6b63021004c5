"""The consumer's decisions without a broker: checks, failure classes, headers, attempts."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from svcinfra.messaging import MessageNackedError, MessagingError, PayloadValidationError
from svcinfra.messaging.consumer import Delivery, ErrorClass, Failure, HandlerSignal, Reject, Retry
from svcinfra.messaging.consumer._delivery import Envelope, decode
from svcinfra.messaging.consumer._failure import (
    broker_retries,
    classify,
    exhausted,
    failure_headers,
    retry_count,
    truncate,
)
from svcinfra.messaging.contract import contract_from_document, read_document
from svcinfra.postgres import TemporarilyUnavailable


class ApiError(Exception):
    """An error that says whether it is temporary, as svcinfra's external API errors do (EX-4)."""

    def __init__(self, text: str, *, temporary: bool) -> None:
        super().__init__(text)
        self.temporary = temporary


SERVICE = Path(__file__).parents[1] / "assets" / "messaging" / "service.yaml"
CONTRACT = contract_from_document(read_document(SERVICE.read_text()), source="service.yaml")
MESSAGES = {m.name: m for m in CONTRACT.consumptions[0].messages}
GOOD = {"user_id": "3b241101-e2bb-4255-8caf-4136c566a962", "email": "a@example.com",
        "registered_at": "2026-11-26T08:00:00Z"}  # fmt: skip


def envelope(**change: object) -> Envelope:
    """A valid `user.registered.v1` envelope, changed."""
    values: dict[str, object] = {
        "body": json.dumps(GOOD).encode(),
        "content_type": "application/json",
        "content_encoding": None,
        "message_type": "user.registered.v1",
        "message_id": "m-1",
        "headers": {"message-version": 1},
    }
    return Envelope(**(values | change))  # type: ignore[arg-type]


def test_a_valid_message_decodes_to_its_spec_and_payload() -> None:
    """A JSON message of a consumed type and version passes every check."""
    decoded = decode(envelope(), MESSAGES, CONTRACT, max_body_bytes=1024)

    assert isinstance(decoded, tuple)
    assert (decoded[0].name, decoded[1]) == ("user.registered.v1", GOOD)


@pytest.mark.parametrize(
    ("change", "error_type", "fragment"),
    [
        ({"message_id": None}, "missing-message-id", "deduplicated"),
        ({"message_id": ""}, "missing-message-id", "deduplicated"),
        ({"body": b"x" * 2000}, "oversized", "2000 bytes"),
        ({"content_type": None}, "wrong-content-type", "None"),
        ({"content_encoding": "gzip"}, "wrong-content-type", "gzip"),
        ({"message_type": None}, "unknown-type", "no AMQP type"),
        ({"message_type": "Not A Name"}, "unknown-type", "no versioned name"),
        ({"message_type": "order.created.v1"}, "unknown-type", "not consumed"),
        ({"message_type": "user.registered.v7"}, "unknown-version", "versions: [1]"),
        ({"headers": {"message-version": 3}}, "unknown-version", "contradicts"),
        ({"body": b"{"}, "invalid-json", "line 1"),
        ({"body": b"\x80abc"}, "invalid-json", "UTF-8"),
        ({"body": json.dumps(GOOD | {"email": "secret-value"}).encode()}, "schema-violation",
         "$.email"),
        ({"body": b"[]"}, "schema-violation", "at $"),
    ],
    ids=["no-id", "empty-id", "oversized", "no-content-type", "encoded", "no-type", "bad-type",
         "foreign-type", "foreign-version", "version-header", "json", "utf8", "schema", "array"],
)  # fmt: skip
def test_each_invalid_message_is_a_permanent_failure(
    change: dict[str, object], error_type: str, fragment: str
) -> None:
    """Every broken rule names itself, permanently, without quoting the payload's values."""
    failure = decode(envelope(**change), MESSAGES, CONTRACT, max_body_bytes=1024)

    assert isinstance(failure, Failure)
    assert (failure.error_class, failure.error_type) == (ErrorClass.PERMANENT, error_type)
    assert fragment in failure.message
    assert "secret-value" not in failure.message


def test_json_nested_past_the_parsers_stack_is_a_permanent_failure() -> None:
    """`[[[[...` small enough to pass the size check exhausts the parser's recursion: a
    permanent invalid-json, not an exception out of the consumer leaving the message unacked."""
    body = b"[" * 100_000 + b"]" * 100_000
    failure = decode(envelope(body=body), MESSAGES, CONTRACT, max_body_bytes=1 << 20)

    assert isinstance(failure, Failure)
    assert (failure.error_class, failure.error_type) == (ErrorClass.PERMANENT, "invalid-json")
    assert "nests deeper" in failure.message


@pytest.mark.parametrize(
    ("exc", "error_class", "error_type"),
    [
        (Retry("mail API answered 503"), ErrorClass.TRANSIENT, "Retry"),
        (Reject("user is blocked"), ErrorClass.PERMANENT, "Reject"),
        (TimeoutError(), ErrorClass.TRANSIENT, "TimeoutError"),
        (ConnectionError("x"), ErrorClass.TRANSIENT, "ConnectionError"),
        (KeyError("ada@example.com"), ErrorClass.TRANSIENT, "KeyError"),
        (TemporarilyUnavailable("db down"), ErrorClass.TRANSIENT, "TemporarilyUnavailable"),
        (ApiError("503", temporary=True), ErrorClass.TRANSIENT, "ApiError"),
        (ApiError("404", temporary=False), ErrorClass.PERMANENT, "ApiError"),
        (MessageNackedError("n", message_name="m"), ErrorClass.TRANSIENT, "MessageNackedError"),
        (PayloadValidationError(message_name="m", problems=[]), ErrorClass.PERMANENT,
         "PayloadValidationError"),
    ],
    ids=["retry", "reject", "timeout", "connection", "bug", "db", "api-temporary",
         "api-permanent", "nacked", "invalid-publish"],
)  # fmt: skip
def test_handler_failures_are_classified(
    exc: BaseException, error_class: ErrorClass, error_type: str
) -> None:
    """Signals decide; errors with `temporary` say; the rest is transient (bounded by the tiers)."""
    failure = classify(exc)

    assert (failure.error_class, failure.error_type) == (error_class, error_type)


def test_a_service_can_declare_its_permanent_errors() -> None:
    """Exception types passed as `permanent` go to the DLQ at once."""
    assert classify(LookupError("x"), permanent=(LookupError,)).error_class is ErrorClass.PERMANENT
    assert classify(KeyError("x"), permanent=(LookupError,)).error_class is ErrorClass.PERMANENT


def test_an_arbitrary_exception_message_is_withheld() -> None:
    """A bug's message may quote personal data: only its type reaches the header."""
    failure = classify(ValueError("bad address ada@example.com"))

    assert "ada@example.com" not in failure.message
    assert failure.message.startswith("ValueError")
    assert classify(Reject("blocked")).message == "blocked"


def test_exhausted_names_the_attempts_and_the_last_failure() -> None:
    """After the last tier the failure says how many attempts and what failed last."""
    failure = exhausted(classify(Retry("503")), 4)

    assert (failure.error_type, failure.message) == (
        "attempts-exhausted",
        "4 attempts; last: Retry: 503",
    )


def test_failure_headers_keep_the_producers_and_drop_the_brokers() -> None:
    """The copy keeps producer headers and the first origin; x-* go; reason is truncated."""
    received = {
        "tenant": "acme",
        "message-version": 1,
        "x-death": [{"queue": "q.retry.1s", "count": 1}],
        "original-exchange": "users.events",
        "original-routing-key": "user.registered.v1",
    }
    failure = Failure(ErrorClass.TRANSIENT, "Retry", "e" * 600)
    now = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)

    headers = failure_headers(received, failure, retries=2, attempts=3, exchange="",
                              routing_key="q", consumer="notifications", now=now)  # fmt: skip

    assert headers["original-exchange"] == "users.events"
    assert headers["original-routing-key"] == "user.registered.v1"
    assert (headers["tenant"], headers["message-version"]) == ("acme", 1)
    assert "x-death" not in headers
    assert (headers["retry-count"], headers["attempts"]) == (2, 3)
    assert (headers["error-class"], headers["consumer"]) == ("transient", "notifications")
    assert len(headers["error-message"]) == 512
    assert headers["error-message"].endswith("...")
    assert headers["failed-at"] == "2026-11-26T08:00:00.000+00:00"
    assert "attempts" not in failure_headers({}, failure, retries=1, attempts=None, exchange="e",
                                             routing_key="k", consumer="c")  # fmt: skip


def test_the_attempt_comes_from_our_header_and_x_death_is_a_cross_check() -> None:
    """retry-count counts retries; junk counts 0; x-death counts only our wait queues' expiries."""
    assert retry_count({}) == 0
    assert retry_count({"retry-count": 2}) == 2
    assert retry_count({"retry-count": "2"}) == retry_count({"retry-count": True}) == 0
    deaths = {"x-death": [{"queue": "q.retry.1s", "count": 2}, {"queue": "q.retry.10s", "count": 1},
                          {"queue": "other", "count": 5}, "junk"]}  # fmt: skip
    assert broker_retries(deaths, "q") == 3
    assert broker_retries({"x-death": "junk"}, "q") == 0


def test_truncate_keeps_short_text() -> None:
    """Text within the limit is unchanged."""
    assert truncate("short") == "short"
    assert truncate("abcdef", 5) == "ab..."


def test_signals_are_not_errors_and_the_key_is_stable() -> None:
    """Retry/Reject are HandlerSignals, not MessagingErrors; the idempotency key needs no clock."""
    assert issubclass(Retry, HandlerSignal)
    assert not issubclass(Reject, MessagingError)
    delivery = Delivery(name="user.registered.v1", version=1, payload={}, message_id="m-1",
                        correlation_id=None, attempt=2, headers={}, routing_key="k",
                        exchange="e", queue="q", consumer="notifications")  # fmt: skip
    assert delivery.idempotency_key == "notifications:m-1"

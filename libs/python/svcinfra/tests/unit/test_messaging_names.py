"""Parsing of AsyncAPI message names, retry delays and topic patterns (MQ-2, MQ-9)."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from svcinfra.messaging.contract import MessageName, format_duration, parse_duration, topic_matches
from svcinfra.messaging.contract._names import version_suffix

segment = st.from_regex(r"[a-z][a-z0-9_-]{0,10}", fullmatch=True)
bases = st.lists(segment, min_size=1, max_size=4).map(".".join)
versions = st.integers(min_value=1, max_value=999_999)
words = st.lists(st.from_regex(r"[a-z0-9-]{1,6}", fullmatch=True), min_size=1, max_size=5)


@given(base=bases, version=versions)
def test_a_versioned_name_round_trips(base: str, version: int) -> None:
    """Any dotted lowercase base with `.vN` parses into its base and version and prints back."""
    name = MessageName.parse(f"{base}.v{version}")

    assert (name.base, name.version) == (base, version)
    assert str(name) == f"{base}.v{version}"


@given(base=bases)
def test_a_name_without_a_version_is_refused(base: str) -> None:
    """A name whose last segment is not `vN` is not a message name (MQ-2)."""
    assume(version_suffix(base) is None)  # "a.v1" drawn as a base has a version
    with pytest.raises(ValueError, match="versioned message name"):
        MessageName.parse(base)


@pytest.mark.parametrize(
    "text",
    ["user.registered", "user.registered.v0", "user.registered.v01", "User.registered.v1",
     "user..registered.v1", ".v1", "v1", "user.registered.V1", "user registered.v1", ""],
    ids=["no-version", "v0", "leading-zero", "upper-case", "empty-segment", "no-base",
         "version-only", "capital-v", "space", "empty"],
)  # fmt: skip
def test_malformed_names_are_refused(text: str) -> None:
    """Names that break the grammar raise ValueError naming the expected form."""
    with pytest.raises(ValueError, match=r"user\.registered\.v1"):
        MessageName.parse(text)


@given(milliseconds=st.integers(min_value=1, max_value=999_999_999))
def test_a_duration_round_trips(milliseconds: int) -> None:
    """Every positive whole number of milliseconds formats to a text that parses back to it."""
    assert parse_duration(format_duration(milliseconds)) == milliseconds


@pytest.mark.parametrize(
    ("text", "expected"),
    [("500ms", 500), ("1s", 1000), ("10s", 10_000), ("5m", 300_000), ("1h", 3_600_000)],
    ids=["ms", "s", "10s", "m", "h"],
)
def test_durations_in_each_unit(text: str, expected: int) -> None:
    """Delays are read in milliseconds, seconds, minutes and hours."""
    assert parse_duration(text) == expected
    assert format_duration(expected) == text


@pytest.mark.parametrize(
    "text", ["soon", "0s", "-1s", "1.5s", "10", "1d", ""], ids=["word", "zero", "negative",
    "fraction", "no-unit", "days", "empty"],
)  # fmt: skip
def test_malformed_durations_are_refused(text: str) -> None:
    """A delay must be a positive whole number with a unit."""
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


@given(key=words)
def test_topic_patterns_match_like_rabbitmq(key: list[str]) -> None:
    """A key matches itself, `#`, and the pattern with any one word replaced by `*`."""
    routing_key = ".".join(key)

    assert topic_matches(routing_key, routing_key)
    assert topic_matches("#", routing_key)
    for index in range(len(key)):
        starred = [*key[:index], "*", *key[index + 1 :]]
        assert topic_matches(".".join(starred), routing_key)
    assert not topic_matches(routing_key + ".extra", routing_key)
    assert topic_matches(routing_key + ".#", routing_key)


@pytest.mark.parametrize(
    ("pattern", "key", "expected"),
    [("user.*.v1", "user.registered.v1", True), ("user.*.v1", "user.registered.v2", False),
     ("user.#", "user", True), ("*.v1", "user.registered.v1", False),
     ("#.v1", "user.registered.v1", True)],
    ids=["star", "star-other-version", "hash-zero-words", "star-one-word-only", "hash-prefix"],
)  # fmt: skip
def test_topic_pattern_examples(pattern: str, key: str, *, expected: bool) -> None:
    """`*` stands for exactly one word and `#` for zero or more."""
    assert topic_matches(pattern, key) is expected

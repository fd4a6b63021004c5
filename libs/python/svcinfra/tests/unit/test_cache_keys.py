"""Key namespaces: `<domain>:<entity>:<id>` is built and validated, never bypassed (RD-3)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from svcinfra.cache import CacheError, KeyFormatError, KeyNamespace, parse_key

KEY_FORMAT = re.compile(r"[^:\s]+:[^:\s]+:\S+")
SEGMENTS = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}", fullmatch=True)
IDS = st.one_of(
    st.integers(),
    st.text(
        st.characters(
            blacklist_categories=("Cc", "Cs", "Zs", "Zl", "Zp"),
            blacklist_characters="\x85\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f",
        ),
        min_size=1,
        max_size=256,
    ).filter(lambda text: not any(ch.isspace() for ch in text)),
)


def test_builds_domain_entity_id() -> None:
    """The rule's own example: user, profile and 123 make `user:profile:123`."""
    namespace = KeyNamespace("user", "profile")

    assert namespace.key(123) == "user:profile:123"
    assert namespace.name == "user:profile"
    assert namespace.pattern == "user:profile:*"


@pytest.mark.parametrize(
    ("domain", "entity"),
    [
        ("", "profile"),
        ("user", ""),
        ("us:er", "profile"),
        ("user", "pro file"),
        ("user", "profile\n"),
        ("user", "pro.file"),
        ("-user", "profile"),
        ("u" * 65, "profile"),
        (None, "profile"),
    ],
    ids=[
        "empty-domain",
        "empty-entity",
        "colon",
        "space",
        "newline",
        "dot",
        "leading-dash",
        "too-long",
        "none",
    ],
)
def test_rejects_bad_segments(domain: object, entity: object) -> None:
    """A domain or entity that is empty, too long or holds `:`, whitespace or `.` is refused."""
    with pytest.raises(KeyFormatError, match="RD-3"):
        KeyNamespace(domain, entity)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "id_",
    ["", "a b", "a\tb", "x\x00", "é" * 257, True, 1.5, None, b"1"],
    ids=["empty", "space", "tab", "nul", "too-long", "bool", "float", "none", "bytes"],
)
def test_rejects_bad_ids(id_: object) -> None:
    """An id that is empty, too long, has whitespace or control chars, or is not str/int fails."""
    namespace = KeyNamespace("user", "profile")

    with pytest.raises(KeyFormatError, match="RD-3"):
        namespace.key(id_)  # type: ignore[arg-type]


def test_key_format_error_is_a_value_error_and_a_cache_error() -> None:
    """Callers may catch the package root or the builtin category."""
    assert issubclass(KeyFormatError, CacheError)
    assert issubclass(KeyFormatError, ValueError)


def test_internal_keys_cannot_collide_with_value_keys() -> None:
    """Lock and negative-entry keys use an entity no namespace can have, yet match the format."""
    namespace = KeyNamespace("user", "profile")

    for key in (namespace.lock_key(7), namespace.absent_key(7)):
        assert KEY_FORMAT.fullmatch(key)
        with pytest.raises(KeyFormatError):
            parse_key(key)


@given(domain=SEGMENTS, entity=SEGMENTS, id_=IDS)
def test_parse_key_inverts_key(domain: str, entity: str, id_: str | int) -> None:
    """Every key a namespace builds matches the format and parses back into its parts."""
    namespace = KeyNamespace(domain, entity)
    key = namespace.key(id_)

    assert KEY_FORMAT.fullmatch(key)
    assert parse_key(key) == (namespace, str(id_))


@given(text=st.text(max_size=80))
def test_parse_key_accepts_only_the_format(text: str) -> None:
    """parse_key returns a valid namespace and id or raises KeyFormatError, nothing else."""
    try:
        namespace, id_ = parse_key(text)
    except KeyFormatError:
        return
    assert namespace.key(id_) == text

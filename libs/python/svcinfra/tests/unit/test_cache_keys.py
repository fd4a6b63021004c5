"""Key namespaces: `<domain>:<entity>:<id>` is built and validated, never bypassed (RD-3)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from redis.crc import key_slot

from svcinfra.cache import CacheError, KeyFormatError, KeyNamespace, parse_key
from svcinfra.cache._keys import hash_tag

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


@given(domain=SEGMENTS, entity=SEGMENTS, id_=IDS | st.from_regex(r"[a-z{}]{1,12}", fullmatch=True))
def test_same_slot_companions_share_the_value_keys_hash_slot(
    domain: str, entity: str, id_: str | int
) -> None:
    """Redis Cluster (issue 20): the lock and negative entry land in the value key's slot, or the
    id is refused (a `}` without a hash tag); the value key itself never changes (RD-3).
    """
    namespace = KeyNamespace(domain, entity)
    value = namespace.key(id_)
    assert value == f"{domain}:{entity}:{id_}"
    if "}" in str(id_) and hash_tag(value) is None:
        with pytest.raises(KeyFormatError, match="hash tag"):
            namespace.lock_key(id_, same_slot=True)
        return
    companions = [
        namespace.lock_key(id_, same_slot=True),
        namespace.absent_key(id_, same_slot=True),
    ]
    assert len(set(companions)) == 2
    for key in companions:
        assert key_slot(key.encode()) == key_slot(value.encode())
        assert key != value
        with pytest.raises(KeyFormatError):
            parse_key(key)  # never mistaken for a value key


def test_same_slot_companions_tag_the_value_key() -> None:
    """The documented forms: `{<domain>:<entity>:<id>}.lock`, unless the id has its own tag."""
    namespace = KeyNamespace("user", "profile")
    assert namespace.lock_key(7, same_slot=True) == "{user:profile:7}.lock"
    assert namespace.absent_key(7, same_slot=True) == "{user:profile:7}.absent"
    assert namespace.lock_key("a{t}b", same_slot=True) == "user:profile.lock:a{t}b"
    assert namespace.lock_key(7) == "user:profile.lock:7"  # single host: unchanged
    with pytest.raises(KeyFormatError, match="hash tag"):
        namespace.lock_key("a}b", same_slot=True)

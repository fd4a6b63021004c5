"""The domain's rules on users and searches (the database's CHECKs mirror them: PG-1)."""

from __future__ import annotations

import re
import sys
import unicodedata
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from users.domain.entity import Cursor, NewUser, SortOrder, User, UserChanges, parse_search
from users.domain.entity.user import CONTROL_CHARACTERS, WHITESPACE
from users.domain.errors import InvalidField


def parse(**change: str) -> NewUser:
    fields = {"email": "ada@example.com", "username": "ada", "display_name": "Ada"} | change
    return NewUser.parse(**fields)


def test_registration_is_normalized_to_lowercase() -> None:
    new = parse(email="  Ada@Example.COM ", username="Ada_Lovelace")

    assert (new.email, new.username) == ("ada@example.com", "ada_lovelace")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("username", "ab"),
        ("username", "a" * 33),
        ("username", "ada-l"),
        ("username", "ada lovelace"),
        ("username", "zoë"),
        ("email", "ada"),
        ("email", "ada@example"),
        ("email", "a da@example.com"),
        ("email", "ada@@example.com"),
        ("email", "a@" + "b" * 250 + ".com"),
        ("email", "ada\x00@example.com"),
        ("email", "ada@exam\x1bple.com"),
        ("email", "ada\x85@example.com"),
        ("display_name", ""),
        ("display_name", "x" * 101),
        ("display_name", "Ada\nLovelace"),
        ("display_name", "Ada\x00"),
        ("display_name", "Ada\x85"),
    ],
)
def test_a_broken_rule_names_its_field(field: str, value: str) -> None:
    with pytest.raises(InvalidField) as caught:
        parse(**{field: value})

    assert caught.value.field == field
    assert caught.value.reason


@pytest.mark.parametrize("name", ["Ada Lovelace", "x" * 100, "Zoë 🚀", "a"])
def test_display_names_within_the_rules_are_kept_verbatim(name: str) -> None:
    assert parse(display_name=name).display_name == name


def test_usernames_at_the_length_limits_are_valid() -> None:
    assert parse(username="abc").username == "abc"
    assert parse(username="a" * 32).username == "a" * 32


def test_an_empty_change_is_refused() -> None:
    with pytest.raises(InvalidField) as caught:
        UserChanges.parse()

    assert caught.value.field == "body"


def test_a_change_checks_only_the_fields_given() -> None:
    changes = UserChanges.parse(display_name="New Name")

    assert changes == UserChanges(display_name="New Name")
    with pytest.raises(InvalidField, match="email"):
        UserChanges.parse(email="nope")


def user(**change: object) -> User:
    now = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
    values: dict[str, object] = {
        "id": uuid.uuid4(),
        "email": "ada@example.com",
        "username": "ada",
        "display_name": "Ada",
        "created_at": now,
        "updated_at": now,
    }
    return User(**(values | change))  # type: ignore[arg-type]


@pytest.mark.parametrize("order", list(SortOrder))
def test_a_cursor_survives_its_round_trip(order: SortOrder) -> None:
    cursor = Cursor.after(user(), order)

    assert Cursor.decode(cursor.encode(), order) == cursor


def test_a_cursor_of_another_sort_order_is_refused() -> None:
    text = Cursor.after(user(), SortOrder.USERNAME).encode()

    with pytest.raises(InvalidField, match="sort=username") as caught:
        Cursor.decode(text, SortOrder.CREATED_AT)
    assert caught.value.field == "cursor"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not-a-cursor",
        "eyJvIjoiY3JlYXRlZF9hdCJ9",  # {"o":"created_at"}: no key, no id
        "eyJvIjoiY3JlYXRlZF9hdCIsImsiOjEsImkiOiJ4In0",  # a number key, a bad id
        (  # {"o":"created_at","k":"2026-11-26T08:00:00","i":"0000...0000"}: a naive time
            "eyJvIjoiY3JlYXRlZF9hdCIsImsiOiIyMDI2LTExLTI2VDA4OjAwOjAwIiwiaSI6IjAwMDAwMDAwLTAwMD"
            "AtMDAwMC0wMDAwLTAwMDAwMDAwMDAwMCJ9"
        ),
        "!!!",
    ],
)
def test_a_forged_cursor_is_a_validation_error(text: str) -> None:
    with pytest.raises(InvalidField) as caught:
        Cursor.decode(text, SortOrder.CREATED_AT)

    assert caught.value.field == "cursor"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"sort": "email"}, "sort"),
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"username_prefix": "a-b"}, "username_prefix"),
        ({"username_prefix": ""}, "username_prefix"),
        ({"email": "x"}, "email"),
        ({"created_after": datetime(2026, 1, 1)}, "created_after"),  # noqa: DTZ001  (on purpose)
    ],
)
def test_search_parameters_name_the_broken_one(params: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidField) as caught:
        parse_search(**params)  # type: ignore[arg-type]

    assert caught.value.field == field


def test_search_filters_are_normalized_like_stored_values() -> None:
    query = parse_search(username_prefix="AdA", email="Ada@Example.com", sort="-username")

    assert (query.username_prefix, query.email) == ("ada", "ada@example.com")
    assert query.order.key.value == "username"
    assert query.order.descending


def test_the_documented_control_character_class_is_unicode_category_cc() -> None:
    """The OpenAPI document's display name and email patterns use it for the domain's rule."""
    documented = re.compile(f"[{CONTROL_CHARACTERS}]")
    for code_point in range(sys.maxunicode + 1):
        char = chr(code_point)
        assert bool(documented.fullmatch(char)) is (unicodedata.category(char) == "Cc"), hex(
            code_point
        )


def test_the_documented_whitespace_class_holds_every_engines_whitespace() -> None:
    """Python's and Rust's `\\s` (U+0085) and ECMA-262's (U+FEFF) all fall in the class."""
    documented = re.compile(f"[{WHITESPACE}]")
    ecma_only = {"\ufeff"}
    for code_point in range(sys.maxunicode + 1):
        char = chr(code_point)
        if re.fullmatch(r"\s", char) or char in ecma_only:
            assert documented.fullmatch(char), hex(code_point)
    for spaced in ("a\u0085@example.com", "a\ufeff@example.com", "a@exa\u3000mple.com"):
        with pytest.raises(InvalidField):
            parse(email=spaced)


def test_search_times_are_normalized_to_utc_and_clamped_at_the_calendar_edges() -> None:
    """Stored `created_at` is UTC; an instant a `datetime` cannot hold in UTC is clamped to the
    first or last one it can, which filters every stored value alike."""
    query = parse_search(created_after=datetime.fromisoformat("2026-03-01T10:00:00+02:00"))
    assert query.created_after == datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    assert query.created_after.utcoffset() == timedelta(0)

    early = parse_search(created_after=datetime.fromisoformat("0001-01-01T00:00:09+08:32"))
    late = parse_search(created_before=datetime.fromisoformat("9999-12-31T23:59:59-08:00"))
    assert early.created_after == datetime.min.replace(tzinfo=UTC)
    assert late.created_before == datetime.max.replace(tzinfo=UTC)

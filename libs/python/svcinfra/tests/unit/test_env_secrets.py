"""Secret generation by kind: password, key, token (CF-5: secrets are generated securely)."""

from __future__ import annotations

import pytest

from svcinfra.envtool import SecretKind, generate_secret, secret_kind


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("USERS_POSTGRES_PASSWORD", SecretKind.PASSWORD),
        ("REDIS_PASSWD", SecretKind.PASSWORD),
        ("SMTP_PWD", SecretKind.PASSWORD),
        ("GPG_PASSPHRASE", SecretKind.PASSWORD),
        ("MAILER_WEBHOOK_SIGNING_KEY", SecretKind.KEY),
        ("PAYMENTS_APIKEY", SecretKind.KEY),
        ("MAILER_WEBHOOK_API_TOKEN", SecretKind.TOKEN),
        ("SESSION_SECRET", SecretKind.TOKEN),
        ("KEY_PASSWORD", SecretKind.PASSWORD),
        ("KEYCLOAK_CLIENT_SECRET", SecretKind.TOKEN),
    ],
    ids=[
        "password",
        "passwd",
        "pwd",
        "passphrase",
        "key",
        "apikey",
        "token",
        "secret-is-a-token",
        "password-wins-over-key",
        "key-inside-a-word-is-not-a-key",
    ],
)
def test_the_kind_comes_from_the_parts_of_the_name(name: str, kind: SecretKind) -> None:
    """A secret's kind is decided by whole parts of its name, a password part first."""
    assert secret_kind(name) is kind


@pytest.mark.parametrize("kind", list(SecretKind), ids=str)
def test_generated_values_have_the_kind_s_length_and_alphabet(kind: SecretKind) -> None:
    """Every generated value has its kind's length, uses only its alphabet, and never repeats."""
    values = [generate_secret(kind) for _ in range(200)]

    assert {len(v) for v in values} == {kind.length}
    assert set("".join(values)) <= set(kind.alphabet)
    assert len(set(values)) == len(values)


@pytest.mark.parametrize("kind", list(SecretKind), ids=str)
def test_generated_values_use_the_whole_alphabet(kind: SecretKind) -> None:
    """Over many values every character of the alphabet appears: no bias towards a subset."""
    seen = set("".join(generate_secret(kind) for _ in range(300)))

    assert seen == set(kind.alphabet)

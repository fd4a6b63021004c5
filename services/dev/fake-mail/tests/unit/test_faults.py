"""The fault injector and the configuration that seeds it, without HTTP."""

from __future__ import annotations

import secrets

import pytest
from fake_mail.config import FakeMailConfig, parse_script
from fake_mail.domain import Decision, FaultInjector, Faults, Outcome, ScriptStep

from svcinfra.config import ConfigError, load_config


def _environ(**extra: str) -> dict[str, str]:
    return {
        "SERVICE_NAME": "fake-mail",
        "ENV": "dev",
        "ENV_PREFIX": "FAKE_MAIL_",
        "FAKE_MAIL_API_KEY": secrets.token_urlsafe(24),
        **extra,
    }


def test_script_steps_come_first_and_in_order_then_the_ratios() -> None:
    """Scripted outcomes are used once each, in order, before any ratio is drawn."""
    injector = FaultInjector(
        Faults(
            retry_after=9,
            script=(
                ScriptStep(status=429),
                ScriptStep(status=429, retry_after=2),
                ScriptStep(status=502),
                ScriptStep(crash_after_accept=True),
            ),
        )
    )
    assert [injector.draw() for _ in range(5)] == [
        Decision(Outcome.RATE_LIMIT, 429, 9),
        Decision(Outcome.RATE_LIMIT, 429, 2),
        Decision(Outcome.ERROR, 502),
        Decision(Outcome.CRASH_AFTER_ACCEPT),
        Decision(Outcome.PROCEED),
    ]
    assert injector.remaining_script == ()


def test_the_same_seed_draws_the_same_faults() -> None:
    """Two injectors with one seed draw the same sequence; the ratios show in it."""
    faults = Faults(error_ratio=0.3, rate_limit_ratio=0.2, crash_after_accept_ratio=0.5, seed=7)
    first, second = FaultInjector(faults), FaultInjector(faults)
    draws = [(first.draw(), first.crash_after_accept()) for _ in range(200)]
    assert draws == [(second.draw(), second.crash_after_accept()) for _ in range(200)]
    outcomes = {decision.outcome for decision, _ in draws}
    assert outcomes == {Outcome.PROCEED, Outcome.RATE_LIMIT, Outcome.ERROR}
    assert {crash for _, crash in draws} == {True, False}


def test_replacing_the_faults_restarts_the_script_and_the_draws() -> None:
    """replace() installs the new script and restarts the seeded sequence."""
    faults = Faults(error_ratio=0.5, seed=3, script=(ScriptStep(status=500),))
    injector = FaultInjector(faults)
    before = [injector.draw() for _ in range(20)]
    injector.replace(faults)
    assert [injector.draw() for _ in range(20)] == before
    assert before[0] == Decision(Outcome.ERROR, 500)


@pytest.mark.parametrize(
    ("address", "rejected"),
    [
        ("bounce@example.com", True),
        ("Bounce@Example.com", True),
        ("other@example.com", False),
        ("anyone@blocked.test", True),
        ("anyone@sub.blocked.test", False),
    ],
    ids=["exact", "case-insensitive", "other-address", "domain", "subdomain-not-included"],
)
def test_reject_list_matches_addresses_and_domains(address: str, *, rejected: bool) -> None:
    """An entry is an exact address or an @domain."""
    injector = FaultInjector(Faults(reject=("bounce@example.com", "@blocked.test")))
    assert (injector.rejects(address) is not None) is rejected


@pytest.mark.parametrize(
    "step",
    [
        {"status": 404},
        {"status": 429, "crash_after_accept": True},
        {},
        {"status": "429"},
        {"status": 429, "retry_after": -1},
        {"crash_after_accept": "yes"},
        {"status": 503, "why": "typo"},
    ],
    ids=["status", "both", "neither", "string-status", "negative", "not-bool", "unknown-key"],
)
def test_invalid_script_steps_are_refused(step: dict[str, object]) -> None:
    """A step that cannot be played is refused, not ignored."""
    with pytest.raises(ValueError, match=r"."):
        ScriptStep.from_mapping(step)


def test_faults_from_the_environment() -> None:
    """Every fault has its variable; the reject list is comma-separated, the script JSON."""
    config = load_config(
        FakeMailConfig,
        _environ(
            FAKE_MAIL_LATENCY_MS="15",
            FAKE_MAIL_ERROR_RATIO="0.25",
            FAKE_MAIL_ERROR_STATUS="502",
            FAKE_MAIL_RATE_LIMIT_RATIO="0.5",
            FAKE_MAIL_RETRY_AFTER="4",
            FAKE_MAIL_REJECT="bounce@example.com, @blocked.test",
            FAKE_MAIL_CRASH_AFTER_ACCEPT_RATIO="0.1",
            FAKE_MAIL_SCRIPT='[{"status": 429, "retry_after": 1}, {"crash_after_accept": true}]',
            FAKE_MAIL_SEED="42",
        ),
    )
    assert config.fake_mail.faults() == Faults(
        latency_ms=15,
        error_ratio=0.25,
        error_status=502,
        rate_limit_ratio=0.5,
        retry_after=4,
        reject=("bounce@example.com", "@blocked.test"),
        crash_after_accept_ratio=0.1,
        script=(ScriptStep(status=429, retry_after=1), ScriptStep(crash_after_accept=True)),
        seed=42,
    )


def test_no_fault_by_default() -> None:
    """Without fault variables, nothing is injected."""
    assert load_config(FakeMailConfig, _environ()).fake_mail.faults() == Faults()


def test_invalid_fault_variables_are_reported_together() -> None:
    """Every invalid variable is named in one ConfigError (CF-6), the key among them."""
    environ = _environ(
        FAKE_MAIL_ERROR_STATUS="404",
        FAKE_MAIL_ERROR_RATIO="2",
        FAKE_MAIL_SCRIPT="[{",
    )
    del environ["FAKE_MAIL_API_KEY"]
    with pytest.raises(ConfigError) as caught:
        load_config(FakeMailConfig, environ)
    assert {p.variable for p in caught.value.problems} == {
        "FAKE_MAIL_API_KEY",
        "FAKE_MAIL_ERROR_STATUS",
        "FAKE_MAIL_ERROR_RATIO",
        "FAKE_MAIL_SCRIPT",
    }


def test_an_empty_script_is_no_script() -> None:
    """FAKE_MAIL_SCRIPT unset or blank plays nothing."""
    assert parse_script("  ") == ()


def test_the_rate_limit_is_a_token_bucket_answering_429_with_the_wait_until_a_token() -> None:
    """A provider's sending rate: `rate_limit_per_second` POSTs a second, one second of burst."""
    now = [100.0]
    injector = FaultInjector(Faults(rate_limit_per_second=2), clock=lambda: now[0])

    assert [injector.draw().outcome for _ in range(2)] == [Outcome.PROCEED] * 2  # the burst
    assert injector.draw() == Decision(Outcome.RATE_LIMIT, 429, 1)  # next token in 0.5 s
    now[0] += 0.5
    assert injector.draw().outcome is Outcome.PROCEED
    assert injector.draw().outcome is Outcome.RATE_LIMIT
    now[0] += 10.0  # the bucket refills up to its size, not beyond
    assert [injector.draw().outcome for _ in range(3)] == [
        Outcome.PROCEED,
        Outcome.PROCEED,
        Outcome.RATE_LIMIT,
    ]


def test_a_slow_rate_limit_tells_the_whole_seconds_until_the_next_token() -> None:
    now = [0.0]
    injector = FaultInjector(Faults(rate_limit_per_second=1), clock=lambda: now[0])
    assert injector.draw().outcome is Outcome.PROCEED
    now[0] += 0.2
    assert injector.draw() == Decision(Outcome.RATE_LIMIT, 429, 1)  # 0.8 s, rounded up


def test_no_rate_limit_by_default_and_from_the_environment() -> None:
    injector = FaultInjector(Faults())
    assert {injector.draw().outcome for _ in range(1000)} == {Outcome.PROCEED}
    config = load_config(FakeMailConfig, _environ(FAKE_MAIL_RATE_LIMIT_PER_SECOND="5"))
    assert config.fake_mail.faults().rate_limit_per_second == 5
    with pytest.raises(ValueError, match="rate_limit_per_second"):
        Faults(rate_limit_per_second=-1)

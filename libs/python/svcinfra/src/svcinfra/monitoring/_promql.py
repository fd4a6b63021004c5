"""Small PromQL helpers: the expressions the sections share, and the names an expression uses."""

from __future__ import annotations

import re

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGES = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_NUMBERS = re.compile(r"\b\d+(?:\.\d+)?(?:e[+-]?\d+|ms|s|m|h|d|w|y)?\b")
_IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_KEYWORDS = frozenset(
    {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "inf", "nan"}
)


def metric_names(expr: str) -> frozenset[str]:
    """The series names `expr` selects: identifiers that are not functions, keywords or labels."""
    text = _STRING.sub('""', expr)
    text = _MATCHERS.sub(" ", text)
    text = _RANGES.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    text = _NUMBERS.sub(" ", text)  # numbers and durations (`offset 1h`)
    names = set()
    for match in _IDENT.finditer(text):
        rest = text[match.end() :].lstrip()
        word = match.group()
        if rest.startswith("(") or word.lower() in _KEYWORDS:
            continue
        names.add(word)
    return frozenset(names)


def sel(metric: str, service: str, *matchers: str) -> str:
    """`metric{service="...",matchers...}`."""
    labels = ",".join([f'service="{service}"', *matchers])
    return f"{metric}{{{labels}}}"


def rate_sum(by: str, selector: str, window: str) -> str:
    """`sum by (by) (rate(selector[window]))`."""
    return f"sum by ({by}) (rate({selector}[{window}]))"


def ratio(by: str, part: str, whole: str, window: str) -> str:
    """The share of `whole`'s rate that `part` is; 0, not nothing, when `part` has no series yet.

    Counters with labels appear at their first increment: without the `or`, a service that never
    failed would have no ratio at all, and its panel no line.
    """
    whole_rate = rate_sum(by, whole, window)
    return f"(\n  {rate_sum(by, part, window)}\n  or 0 * {whole_rate}\n)\n/ {whole_rate}"


def increase_or_new(by: str, selector: str, window: str) -> str:
    """How much a counter grew over `window`, counting a series born within it at its value.

    A labelled counter appears at its first increment with the value 1: `increase()` over a
    single sample is nothing, so a first parked row or restart would go unseen.
    """
    return (
        f"sum by ({by}) (\n  ({selector} unless {selector} offset {window})\n"
        f"  or increase({selector}[{window}])\n)"
    )

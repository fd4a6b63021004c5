"""String formats of the AsyncAPI schema, checked as the official parser checks them (MQ-1).

The official parser validates a contract with ajv and `ajv-formats` 2.1.1 in its default `full`
mode. jsonschema's own checks differ (its `email` only looks for an `@`; its `uri` needs an
optional package), so a contact email `team` passed ours and failed the official parser. The
expressions below are ajv-formats' own, copied verbatim from `dist/formats.js` (the sources of
its `email`, `uri-reference`, `uri-template` and `URI` regular expressions, flag `i`), split
into pieces only to fit the line length; `uri` also requires a `/` or `:` as ajv-formats does.

Only the formats the AsyncAPI 3.0.0 schema uses on document fields are registered. `regex` is
not: the official parser does not check payload `pattern`s against it (svcinfra refuses a
pattern Python cannot compile under MQ-2, see `_build.py`).
"""

from __future__ import annotations

import re

from jsonschema import FormatChecker

# fmt: off
_EMAIL = re.compile(
    "^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*@(?:[a-z0-9](?:[a-z0"
    "-9-]*[a-z0-9])?\\.)+[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$",
    re.IGNORECASE | re.ASCII,
)
_URI_REFERENCE = re.compile(
    "^(?:[a-z][a-z0-9+\\-.]*:)?(?:\\/?\\/(?:(?:[a-z0-9\\-._~!$&'()*+,;=:]|%[0-9a-f]{2})*@)?(?"
    ':\\[(?:(?:(?:(?:[0-9a-f]{1,4}:){6}|::(?:[0-9a-f]{1,4}:){5}|(?:[0-9a-f]{1,4})?::(?:[0-'
    '9a-f]{1,4}:){4}|(?:(?:[0-9a-f]{1,4}:){0,1}[0-9a-f]{1,4})?::(?:[0-9a-f]{1,4}:){3}|(?:'
    '(?:[0-9a-f]{1,4}:){0,2}[0-9a-f]{1,4})?::(?:[0-9a-f]{1,4}:){2}|(?:(?:[0-9a-f]{1,4}:){'
    '0,3}[0-9a-f]{1,4})?::[0-9a-f]{1,4}:|(?:(?:[0-9a-f]{1,4}:){0,4}[0-9a-f]{1,4})?::)(?:['
    '0-9a-f]{1,4}:[0-9a-f]{1,4}|(?:(?:25[0-5]|2[0-4]\\d|[01]?\\d\\d?)\\.){3}(?:25[0-5]|2[0-4]'
    '\\d|[01]?\\d\\d?))|(?:(?:[0-9a-f]{1,4}:){0,5}[0-9a-f]{1,4})?::[0-9a-f]{1,4}|(?:(?:[0-9a'
    "-f]{1,4}:){0,6}[0-9a-f]{1,4})?::)|[Vv][0-9a-f]+\\.[a-z0-9\\-._~!$&'()*+,;=:]+)\\]|(?:(?"
    ':25[0-5]|2[0-4]\\d|[01]?\\d\\d?)\\.){3}(?:25[0-5]|2[0-4]\\d|[01]?\\d\\d?)|(?:[a-z0-9\\-._~!$'
    '&\'"()*+,;=]|%[0-9a-f]{2})*)(?::\\d*)?(?:\\/(?:[a-z0-9\\-._~!$&\'"()*+,;=:@]|%[0-9a-f]{2}'
    ')*)*|\\/(?:(?:[a-z0-9\\-._~!$&\'"()*+,;=:@]|%[0-9a-f]{2})+(?:\\/(?:[a-z0-9\\-._~!$&\'"()*+'
    ',;=:@]|%[0-9a-f]{2})*)*)?|(?:[a-z0-9\\-._~!$&\'"()*+,;=:@]|%[0-9a-f]{2})+(?:\\/(?:[a-z0'
    '-9\\-._~!$&\'"()*+,;=:@]|%[0-9a-f]{2})*)*)?(?:\\?(?:[a-z0-9\\-._~!$&\'"()*+,;=:@/?]|%[0-9'
    'a-f]{2})*)?(?:#(?:[a-z0-9\\-._~!$&\'"()*+,;=:@/?]|%[0-9a-f]{2})*)?$',
    re.IGNORECASE | re.ASCII,
)
_URI_TEMPLATE = re.compile(
    '^(?:(?:[^\\x00-\\x20"\'<>%\\\\^`{|}]|%[0-9a-f]{2})|\\{[+#./;?&=,!@|]?(?:[a-z0-9_]|%[0-9a-f'
    ']{2})+(?::[1-9][0-9]{0,3}|\\*)?(?:,(?:[a-z0-9_]|%[0-9a-f]{2})+(?::[1-9][0-9]{0,3}|\\*)'
    '?)*\\})*$',
    re.IGNORECASE | re.ASCII,
)
_URI = re.compile(
    "^(?:[a-z][a-z0-9+\\-.]*:)(?:\\/?\\/(?:(?:[a-z0-9\\-._~!$&'()*+,;=:]|%[0-9a-f]{2})*@)?(?:"
    "\\[(?:(?:(?:(?:[0-9a-f]{1,4}:){6}|::(?:[0-9a-f]{1,4}:){5}|(?:[0-9a-f]{1,4})?::(?:[0-9"
    "a-f]{1,4}:){4}|(?:(?:[0-9a-f]{1,4}:){0,1}[0-9a-f]{1,4})?::(?:[0-9a-f]{1,4}:){3}|(?:("
    "?:[0-9a-f]{1,4}:){0,2}[0-9a-f]{1,4})?::(?:[0-9a-f]{1,4}:){2}|(?:(?:[0-9a-f]{1,4}:){0"
    ",3}[0-9a-f]{1,4})?::[0-9a-f]{1,4}:|(?:(?:[0-9a-f]{1,4}:){0,4}[0-9a-f]{1,4})?::)(?:[0"
    "-9a-f]{1,4}:[0-9a-f]{1,4}|(?:(?:25[0-5]|2[0-4]\\d|[01]?\\d\\d?)\\.){3}(?:25[0-5]|2[0-4]\\"
    "d|[01]?\\d\\d?))|(?:(?:[0-9a-f]{1,4}:){0,5}[0-9a-f]{1,4})?::[0-9a-f]{1,4}|(?:(?:[0-9a-"
    "f]{1,4}:){0,6}[0-9a-f]{1,4})?::)|[Vv][0-9a-f]+\\.[a-z0-9\\-._~!$&'()*+,;=:]+)\\]|(?:(?:"
    "25[0-5]|2[0-4]\\d|[01]?\\d\\d?)\\.){3}(?:25[0-5]|2[0-4]\\d|[01]?\\d\\d?)|(?:[a-z0-9\\-._~!$&"
    "'()*+,;=]|%[0-9a-f]{2})*)(?::\\d*)?(?:\\/(?:[a-z0-9\\-._~!$&'()*+,;=:@]|%[0-9a-f]{2})*)"
    "*|\\/(?:(?:[a-z0-9\\-._~!$&'()*+,;=:@]|%[0-9a-f]{2})+(?:\\/(?:[a-z0-9\\-._~!$&'()*+,;=:@"
    "]|%[0-9a-f]{2})*)*)?|(?:[a-z0-9\\-._~!$&'()*+,;=:@]|%[0-9a-f]{2})+(?:\\/(?:[a-z0-9\\-._"
    "~!$&'()*+,;=:@]|%[0-9a-f]{2})*)*)(?:\\?(?:[a-z0-9\\-._~!$&'()*+,;=:@/?]|%[0-9a-f]{2})*"
    ")?(?:#(?:[a-z0-9\\-._~!$&'()*+,;=:@/?]|%[0-9a-f]{2})*)?$",
    re.IGNORECASE | re.ASCII,
)
# fmt: on
_NOT_URI_FRAGMENT = re.compile(r"/|:")

ASYNCAPI_FORMATS = FormatChecker(formats=())
"""The format checker of contract documents: ajv-formats' `full` definitions."""


@ASYNCAPI_FORMATS.checks("email")
def is_email(value: object) -> bool:
    """ajv-formats' `email`: a dotted local part, `@`, a dotted host of letters and digits."""
    return not isinstance(value, str) or _EMAIL.fullmatch(value) is not None


@ASYNCAPI_FORMATS.checks("uri")
def is_uri(value: object) -> bool:
    """ajv-formats' `uri`: an absolute RFC 3986 URI (scheme required)."""
    return not isinstance(value, str) or (
        _NOT_URI_FRAGMENT.search(value) is not None and _URI.fullmatch(value) is not None
    )


@ASYNCAPI_FORMATS.checks("uri-reference")
def is_uri_reference(value: object) -> bool:
    """ajv-formats' `uri-reference`: a URI or a relative reference."""
    return not isinstance(value, str) or _URI_REFERENCE.fullmatch(value) is not None


@ASYNCAPI_FORMATS.checks("uri-template")
def is_uri_template(value: object) -> bool:
    """ajv-formats' `uri-template` (RFC 6570)."""
    return not isinstance(value, str) or _URI_TEMPLATE.fullmatch(value) is not None

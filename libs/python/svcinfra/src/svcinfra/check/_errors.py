"""Errors of `svcinfra check`.

A broken rule is not an error: it is a `Finding`, and the run exits 1. These errors mean the
check could not be run as asked, so its result would be meaningless; the run exits 2:

```
CheckError                  root: the check cannot run as asked (exit 2)
├── CheckConfigError        bad PATH, unknown rule in --select / --ignore, missing tool (squawk)
└── DatabaseCheckError      --db given, but the server cannot be reached or the database made
```
"""

from __future__ import annotations


class CheckError(Exception):
    """Root of the errors of `svcinfra check`; `str()` is a complete, user-facing message."""


class CheckConfigError(CheckError):
    """The options or the environment make the check impossible (not a rule violation)."""


class DatabaseCheckError(CheckError):
    """`--db`: the server is unreachable or a temporary database cannot be created or dropped."""

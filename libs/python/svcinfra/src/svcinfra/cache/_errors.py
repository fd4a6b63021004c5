"""Errors of `svcinfra.cache`: only misuse is raised; Redis trouble never reaches the caller (RD-1).

    CacheError                      root of every error this package raises (itself: a near
                                    cache asked for on Redis Cluster)
    ├── KeyFormatError (ValueError) a segment that cannot form `<domain>:<entity>:<id>` (RD-3)
    ├── TTLError (ValueError)       a missing, non-positive or too long TTL, or a bad jitter (RD-2)
    └── CodecError (TypeError)      a codec that is not a protobuf message class (RD-4)

A value in Redis that does not decode is not an error for the caller: it is a miss, the key is
deleted and `svcinfra_cache_decode_errors_total` counts it. Redis being down, slow or refusing
connections is not an error either: reads miss, writes are skipped, `get_or_load` returns the
loader's result, and `svcinfra_cache_errors_total` counts it.
"""

from __future__ import annotations

__all__ = ["CacheError", "CodecError", "KeyFormatError", "TTLError"]


class CacheError(Exception):
    """Base class of every error raised by `svcinfra.cache`."""


class KeyFormatError(CacheError, ValueError):
    """A key segment that breaks the `<domain>:<entity>:<id>` format (RD-3)."""


class TTLError(CacheError, ValueError):
    """A TTL that is missing, not positive, above the upper bound, or a bad jitter (RD-2)."""


class CodecError(CacheError, TypeError):
    """A codec that is not a protobuf message class, or one that cannot be used (RD-4)."""

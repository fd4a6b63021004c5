"""Cache helpers on svcinfra."""

from svcinfra import cache

NS = cache

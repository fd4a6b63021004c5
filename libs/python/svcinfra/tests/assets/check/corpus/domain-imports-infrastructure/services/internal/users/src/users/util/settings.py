"""Reads the config section type (svcinfra.config is not an adapter)."""

from svcinfra.config import Section


class Limits(Section):
    """Limits of the billing use cases."""

    max_items: int = 100

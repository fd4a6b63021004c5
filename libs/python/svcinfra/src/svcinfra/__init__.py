"""Infrastructure integration rules for Python backend services, as a library."""

from importlib.metadata import version as _version

__all__ = ["__version__"]

__version__ = _version("svcinfra")

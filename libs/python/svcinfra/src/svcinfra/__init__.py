"""Infrastructure integration rules for Python backend services, as a library."""

from importlib.metadata import PackageNotFoundError as _PackageNotFoundError
from importlib.metadata import version as _version

__all__ = ["__version__"]

try:
    __version__ = _version("svcinfra")
except _PackageNotFoundError:  # run from its sources, not installed: a dev stage (CI-4)
    __version__ = "0+source"

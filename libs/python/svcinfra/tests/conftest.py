"""The library's own test setup; the shared fixtures come from `svcinfra.testing.pytest_plugin`."""

import sys
from pathlib import Path

# The library's test protobuf code is committed generated code (RD-4); tests import it by name,
# as a service imports its own generated package.
sys.path.insert(0, str(Path(__file__).parent / "assets" / "proto" / "generated"))

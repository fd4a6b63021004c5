"""`python -m devstack`: see `devstack._cli`."""

import sys

from ._cli import main

sys.exit(main())

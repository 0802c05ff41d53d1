"""``python -m neurust``: the same command as ``neurust``."""

import sys

from neurust.cli import main

sys.exit(main())

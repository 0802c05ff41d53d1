"""``python -m neurust.compare``: the same as ``neurust compare``."""

import sys

from neurust.compare.cli import main

sys.exit(main())

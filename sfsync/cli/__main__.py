"""``python -m sfsync.cli``."""

import sys

from sfsync.cli import main

sys.exit(main())

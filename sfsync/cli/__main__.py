"""``python -m sfsync.cli``: the same as the ``sfsync`` command."""

import sys

from sfsync.cli import main

sys.exit(main())

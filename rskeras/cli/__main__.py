"""``python -m rskeras.cli``: the ``rskeras`` command."""

import sys

from rskeras.cli import main

sys.exit(main())

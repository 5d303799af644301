"""``python -m engine.cli``: the ``unsr`` command from a source checkout."""

import sys

from engine.cli import main

sys.exit(main())

"""``python -m orchestrator.cli``: the ``respot`` command."""

import sys

from orchestrator.cli import main

sys.exit(main())

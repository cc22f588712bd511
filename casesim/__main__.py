"""``python -m casesim`` is the ``casesim`` command."""

import sys

from casesim.cli import main

sys.exit(main())

"""``python -m autoencoders.cli``: the ``autoencoders`` command, as the console script runs it."""

import sys

from autoencoders.cli.app import main

sys.exit(main())

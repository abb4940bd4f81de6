"""``python -m autoencoders``: the same as the ``autoencoders`` command."""

import sys

from autoencoders.cli import main

sys.exit(main())

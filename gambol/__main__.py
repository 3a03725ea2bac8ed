"""`python -m gambol ...`: the `gambol` command line (see `gambol.training.cli`)."""

import sys

from gambol.training.cli import console

if __name__ == "__main__":
    sys.exit(console())

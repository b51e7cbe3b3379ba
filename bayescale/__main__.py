"""``python -m bayescale``: the same command line as the ``bayescale`` console script."""

import sys

from bayescale.cli import main

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

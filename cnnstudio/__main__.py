"""`python -m cnnstudio` is the same entry point as the `cnnstudio` console script."""

import sys

from cnnstudio.cli import main

if __name__ == "__main__":
    sys.exit(main())

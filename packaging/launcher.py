"""Entry point of the frozen app: PyInstaller runs this file as __main__ in the bundle.

The bundle's `cnnstudio` executable is the same command line as the pip-installed one: no arguments
opens the window, `cnnstudio train ...` trains headless, `cnnstudio --self-test` checks the install.
"""

import multiprocessing
import sys

from cnnstudio.cli import main

if __name__ == "__main__":
    multiprocessing.freeze_support()  # a frozen child process must not start a second app
    sys.exit(main())

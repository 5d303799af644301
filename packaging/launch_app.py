"""Entry script for the PyInstaller bundle: start the studio."""

import sys

from unsr_app.__main__ import main

if __name__ == "__main__":
    sys.exit(main())

"""`python -m bench`: see bench/__init__.py. `python -m bench --help` lists the knobs."""

from __future__ import annotations

import sys

from bench.run import main

if __name__ == "__main__":
    sys.exit(main())

"""`python -m harness` is the `conv-harness` command."""

import sys

from harness.cli import main

sys.exit(main())

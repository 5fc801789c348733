"""``python -m benchmark.runner``: a worker started by a launcher, its assignment on stdin."""

import sys

from benchmark.runner._entry import main

sys.exit(main())

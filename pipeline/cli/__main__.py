"""`python -m prognos.pipeline.cli` = `prognos` (the multi-worker launcher starts workers this way)."""

import sys

from prognos.pipeline.cli import main

sys.exit(main())

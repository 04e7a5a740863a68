"""``python -m detection.evaluate --gt GT.csv --pred SUBMISSION.csv``: the standalone evaluator.

The command keeps this short name; the evaluator itself lives in
:mod:`detection.evaluation.cli` beside the metrics it reports.
"""

from __future__ import annotations

import sys

from detection.evaluation.cli import main

if __name__ == "__main__":
    sys.exit(main())

"""The lmms-eval adapter: hook functions the task YAMLs name.

lmms-eval logs through loguru and configures no standard-library handler, so without
one our INFO lines (judge progress summaries, where verdicts were written) would be
lost. The adapter gives the `clinhallu_tasks` logger a stderr handler, once, unless the
application already configured one.
"""

from __future__ import annotations

import logging
import sys

_logger = logging.getLogger("clinhallu_tasks")
if not _logger.handlers:
    _handler = logging.StreamHandler(sys.stderr)
    _handler.setFormatter(logging.Formatter("%(asctime)s | %(levelname)-8s | clinhallu_tasks - %(message)s"))
    _logger.addHandler(_handler)
    _logger.setLevel(logging.INFO)

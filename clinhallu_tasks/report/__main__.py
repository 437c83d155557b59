"""``python -m clinhallu_tasks.report PATH... [--out DIR]``."""

import sys

from clinhallu_tasks.report.command import main

sys.exit(main())

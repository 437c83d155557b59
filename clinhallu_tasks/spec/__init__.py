"""One spec per benchmark: the vocabulary every other module imports (docs/DESIGN.md).

Plain data only. Task YAMLs are generated from it (`python -m clinhallu_tasks.lmms.yaml_files`),
and the writer and readers of run records take metric names, runs and scales from here.
"""

from clinhallu_tasks.spec.common import Metric, Scale

__all__ = ["Metric", "Scale"]

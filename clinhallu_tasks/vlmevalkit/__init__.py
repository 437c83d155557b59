"""ClinHallu and MedHallTune in VLMEvalKit (`pip install clinhallu-tasks[vlmeval]`; docs/vlmevalkit.md).

    clinhallu-vlmeval --data ClinHallu_Sample_baseline --model ...    # VLMEvalKit's run loop, ours registered

or from Python:

    from clinhallu_tasks.vlmevalkit import register
    register()                                     # then vlmeval.dataset.build_dataset("MedHallTune_P"), ...

Importing this package does not import VLMEvalKit; `register()` and `clinhallu_tasks.vlmevalkit.datasets` do.
"""

from clinhallu_tasks.vlmevalkit.names import DATASETS, DatasetName, dataset_name
from clinhallu_tasks.vlmevalkit.register import register

__all__ = ["DATASETS", "DatasetName", "dataset_name", "register"]

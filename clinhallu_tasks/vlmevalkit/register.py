"""Make our datasets known to VLMEvalKit, which has no plugin hook (no entry points, no imports of user code).

VLMEvalKit finds a dataset only in two places of `vlmeval.dataset`: the list `DATASET_CLASSES`
(`--data NAME`, and the TYPE a model wrapper asks for) and its attributes (`--config` "class").
Both are changed in place: `vlmeval.run` and `vlmeval.tools` hold their own references to
them, so rebinding the names would not reach them. Calling this twice changes nothing.
"""

from __future__ import annotations


def register() -> list[str]:
    """Register ClinHalluDataset and MedHallTuneDataset with the imported VLMEvalKit; the dataset names."""
    import vlmeval.dataset as vlmeval_dataset

    from clinhallu_tasks.vlmevalkit.datasets import DATASET_CLASSES

    names: list[str] = []
    for cls in DATASET_CLASSES:
        setattr(vlmeval_dataset, cls.__name__, cls)
        if cls not in vlmeval_dataset.DATASET_CLASSES:
            vlmeval_dataset.DATASET_CLASSES.append(cls)
        for name in cls.supported_datasets():
            if name not in vlmeval_dataset.SUPPORTED_DATASETS:
                vlmeval_dataset.SUPPORTED_DATASETS.append(name)
            names.append(name)
    return names


__all__ = ["register"]

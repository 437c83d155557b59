"""VLMEvalKit's dataset names: the public names of INTERFACE.md, each bound to one of our tasks."""

from __future__ import annotations

import pytest

from clinhallu_tasks.spec import clinhallu as clinhallu_spec
from clinhallu_tasks.spec import medhalltune as medhalltune_spec
from clinhallu_tasks.vlmevalkit.names import DATASETS, DATASETS_BY_NAME, dataset_name

SOURCES = ("VQA_RAD", "PathVQA", "MedFrameQA", "MedXpertQA", "Sample")
RUNS = ("baseline", "replace_vr", "replace_kr", "replace_vr_kr")


def test_the_published_names_are_exactly_those_we_register():
    published = {f"ClinHallu_{source}_{run}" for source in SOURCES for run in RUNS}
    published |= {"MedHallTune_P", "MedHallTune_N", "MedHallTune_Sample_P", "MedHallTune_Sample_N"}
    assert set(DATASETS_BY_NAME) == published
    assert len(DATASETS) == len(published)


@pytest.mark.parametrize("name", [n for n in DATASETS if n.benchmark == "clinhallu"], ids=lambda n: n.dataset)
def test_each_clinhallu_name_runs_the_task_of_its_source_and_run(name):
    source, run = clinhallu_spec.parse_task_name(name.task)
    assert name.dataset.endswith(f"_{run.name}") and name.chained == run.chained
    assert name.dataset.split("_")[1] == source.label.split("-")[0]


def test_medhalltune_names_run_their_split():
    for name in (n for n in DATASETS if n.benchmark == "medhalltune"):
        task = medhalltune_spec.parse_task_name(name.task)
        assert name.dataset.endswith(f"_{task.split}") and ("_Sample_" in name.dataset) == task.sample


def test_an_unknown_name_lists_the_known_ones():
    with pytest.raises(KeyError, match="ClinHallu_Sample_baseline"):
        dataset_name("ClinHallu_Sample_basline")

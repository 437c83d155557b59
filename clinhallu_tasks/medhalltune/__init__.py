"""MedHallTune core: records, loading, the judge prompt and verdict reader, scoring.

Knows nothing of any framework: clinhallu_tasks.evaluation drives it, the adapters translate.
"""

from clinhallu_tasks.medhalltune.judge import (
    DIMENSIONS,
    TemplateError,
    Verdict,
    build_judge_messages,
    build_judge_request,
    load_templates,
    parse_verdict,
)
from clinhallu_tasks.medhalltune.loading import (
    DATA_DIR_VARIABLE,
    SAMPLE_ROOT,
    LoadedSplit,
    check_root,
    load_root,
    load_split,
    missing_images,
    strip_image_placeholder,
)
from clinhallu_tasks.medhalltune.records import (
    QUESTION_FILES,
    REFERENCE_FILES,
    SPLITS,
    MedHallTuneItem,
    Reference,
    Split,
)
from clinhallu_tasks.medhalltune.scoring import (
    JudgeSummary,
    TextScores,
    dimension_means,
    summarize_verdicts,
    text_scores,
)

__all__ = [
    "DATA_DIR_VARIABLE",
    "DIMENSIONS",
    "QUESTION_FILES",
    "REFERENCE_FILES",
    "SAMPLE_ROOT",
    "SPLITS",
    "JudgeSummary",
    "LoadedSplit",
    "MedHallTuneItem",
    "Reference",
    "Split",
    "TemplateError",
    "TextScores",
    "Verdict",
    "build_judge_messages",
    "build_judge_request",
    "check_root",
    "dimension_means",
    "load_root",
    "load_split",
    "load_templates",
    "missing_images",
    "parse_verdict",
    "strip_image_placeholder",
    "summarize_verdicts",
    "text_scores",
]

"""The tables and the submission state what produced the numbers, as the run recorded it."""

from __future__ import annotations

import hashlib
from pathlib import Path

from clinhallu_tasks.records import Wording
from clinhallu_tasks.report.provenance import item_set
from clinhallu_tasks.report.scores import Row
from clinhallu_tasks.spec import clinhallu as ch
from tests.report.records_builder import (
    JUDGE,
    SETTINGS,
    VLMEVALKIT,
    answers,
    clinhallu_task,
    medhalltune_task,
    outcomes,
    run_report,
    write_model,
)

EDITED = {"answer_judge.txt": hashlib.sha256(b"the user's edited answer judge").hexdigest()}


def test_template_fingerprints_are_those_the_run_recorded(tmp_path: Path) -> None:
    # The 0.1 report hashed the templates installed at report time, not those the run used.
    clinhallu_task(tmp_path / "runs", "vqa_rad", "baseline", outcomes(6), wording=Wording("package", "custom", EDITED))
    doc = run_report([tmp_path / "runs"], tmp_path / "out").submission()
    assert doc["provenance"]["wording"]["templates"] == {"clinhallu_vqa_rad_baseline": EDITED}


def test_the_wording_is_stated_in_both_files(tmp_path: Path) -> None:
    write_model(tmp_path / "runs", sources=("pathvqa",), medhalltune=False,
                wording=Wording("official", "official", EDITED))
    out = run_report([tmp_path / "runs"], tmp_path / "out")
    assert out.submission()["provenance"]["wording"]["label"] == "official wording"
    assert "official wording" in out.md


def test_the_data_fingerprint_is_the_summaries_which_cover_images(tmp_path: Path) -> None:
    # The 0.1 report hashed MedHallTune items without their image (it looked for `image_paths`).
    a = medhalltune_task(tmp_path / "runs", "medhalltune_pos", answers(4), data_fingerprint="a" * 64)
    b = medhalltune_task(tmp_path / "runs", "medhalltune_neg", answers(4), data_fingerprint="b" * 64)
    doc = run_report([tmp_path / "runs"], tmp_path / "out").submission()
    data = doc["provenance"]["data"]
    assert data["by_task"] == {a.task: "a" * 64, b.task: "b" * 64}
    expected = hashlib.sha256(f"{b.task}:{'b' * 64}\n{a.task}:{'a' * 64}".encode()).hexdigest()
    assert data["fingerprint"] == expected


def test_the_bertscore_model_is_a_name_never_a_machine_path(tmp_path: Path) -> None:
    medhalltune_task(tmp_path / "runs", "medhalltune_pos", answers(4),
                     bertscore_model="/home/alice/models/roberta-large")
    out = run_report([tmp_path / "runs"], tmp_path / "out")
    assert out.submission()["provenance"]["bertscore_model"] == ["roberta-large"]
    assert "/home/alice" not in out.md and "/home/alice" not in (out.folder / "submission.json").read_text()
    assert "BERTScore model: roberta-large (bertscore_num_layers=17)" in out.md


def test_judge_model_thinking_and_structured_output_and_decoding_are_stated(tmp_path: Path) -> None:
    write_model(tmp_path / "runs", sources=("pathvqa",))
    out = run_report([tmp_path / "runs"], tmp_path / "out")
    (judge,) = out.submission()["provenance"]["judge"]["judges"]
    assert judge == {"model": JUDGE.model, "endpoints": 2, "settings": JUDGE.settings}
    for text in ("`judge-7b`", "thinking=False", "structured_output=json_schema", "top_p=0.9",
                 f"max_new_tokens={SETTINGS['max_new_tokens']}"):
        assert text in out.md, text
    provenance = out.submission()["provenance"]
    assert provenance["generation_settings"] == SETTINGS
    assert provenance["task_settings"]["clinhallu_pathvqa_replace_vr"] == {"given_steps": ["visual_recognition"]}
    assert provenance["bertscore_settings"] == [{"bertscore_num_layers": 17}]
    assert "- Decoding: max_new_tokens=4096, resample_attempts=50, temperature=0.0\n" in out.md


def test_the_lmms_eval_version_is_the_summarys_framework_string(tmp_path: Path) -> None:
    clinhallu_task(tmp_path / "a", "vqa_rad", "baseline", outcomes(4), framework="lmms-eval 0.7.3")
    clinhallu_task(tmp_path / "b", "vqa_rad", "baseline", outcomes(4), framework=VLMEVALKIT)
    out = run_report([tmp_path / "a", tmp_path / "b"], tmp_path / "out")
    lmms = out.submissions["model-a | lmms-eval 0.7.3"]["provenance"]
    assert lmms["lmms_eval_version"] == ["0.7.3"] and lmms["frameworks"] == ["lmms-eval 0.7.3"]
    assert out.submissions[f"model-a | {VLMEVALKIT}"]["provenance"]["lmms_eval_version"] == []


def test_a_secret_in_recorded_settings_never_reaches_the_files(tmp_path: Path) -> None:
    key = "sk-this-key-must-not-leak-0123456789"
    clinhallu_task(tmp_path / "runs", "vqa_rad", "baseline", outcomes(4), settings={"api_key": key, "max_tokens": 9})
    out = run_report([tmp_path / "runs"], tmp_path / "out")
    assert key not in out.md and key not in (out.folder / "submission.json").read_text()
    assert out.submission()["provenance"]["generation_settings"] == {"api_key": "[REDACTED]", "max_tokens": 9}


def _row(n: int, status: str) -> Row:
    return Row("x", "x", {}, n, status, "judged", {})  # type: ignore[arg-type]


def test_the_item_set_is_whole_only_when_every_released_item_was_evaluated() -> None:
    whole = [_row(n, "complete") for n in (2000, 2000, 2000, ch.RELEASED_ITEMS - 6000)]
    assert item_set(whole, ch.RELEASED_ITEMS)["whole_released_benchmark"] is True
    assert item_set(whole[:3], ch.RELEASED_ITEMS)["whole_released_benchmark"] is False
    assert item_set([*whole[:3], _row(ch.RELEASED_ITEMS - 6000, "partial")],
                    ch.RELEASED_ITEMS)["whole_released_benchmark"] is False


def test_a_12_item_run_says_it_is_not_the_whole_benchmark(tmp_path: Path) -> None:
    write_model(tmp_path / "runs", n=12)
    out = run_report([tmp_path / "runs"], tmp_path / "out")
    sets = out.submission()["provenance"]["item_sets"]
    assert sets["clinhallu"] == {"evaluated": 48, "released": ch.RELEASED_ITEMS, "whole_released_benchmark": False}
    assert sets["medhalltune"]["whole_released_benchmark"] is False
    assert f"48 items of {ch.RELEASED_ITEMS} released (not the whole benchmark)" in out.md

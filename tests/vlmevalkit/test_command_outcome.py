"""`clinhallu-vlmeval` exits non-zero when a dataset did not end as asked (VLMEvalKit itself exits 0)."""

from __future__ import annotations

import json
import time

from clinhallu_tasks.vlmevalkit.command import Requested, failures, requested


def test_the_arguments_name_models_datasets_work_folder_and_mode(tmp_path):
    args = ["--data", "ClinHallu_Sample_baseline", "MMBench", "--model", "m", "--work-dir", str(tmp_path),
            "--mode", "eval", "--judge", "j"]
    assert requested(args, {}) == Requested(tmp_path, ["m"], ["ClinHallu_Sample_baseline", "MMBench"], "eval")
    assert requested(args, {"MMEVAL_ROOT": "/elsewhere"}).work_dir.as_posix() == "/elsewhere"


def test_a_config_file_names_them_too(tmp_path):
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"model": {"m1": {}, "m2": {}}, "data": {"MedHallTune_P": {}}}))
    request = requested(["--config", str(config)], {})
    assert (request.models, request.datasets) == (["m1", "m2"], ["MedHallTune_P"])


def test_our_dataset_without_fresh_records_failed(tmp_path):
    request = Requested(tmp_path, ["m"], ["MedHallTune_P"], "all")
    started = time.time() - 1
    assert failures(request, started) == ["m x MedHallTune_P: no records written (see VLMEvalKit's log above)"]
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "medhalltune_pos.summary.json").write_text("{}")
    assert failures(request, started) == []
    assert failures(request, time.time() + 10)  # records from an earlier run do not count


def test_infer_mode_needs_only_the_prediction_file(tmp_path):
    request = Requested(tmp_path, ["m"], ["MedHallTune_P"], "infer")
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "m_MedHallTune_P.tsv").write_text("index\n")
    assert failures(request, time.time() - 1) == []


def test_status_json_errors_and_skips_count_for_every_dataset(tmp_path):
    (tmp_path / "m").mkdir()
    status = {"datasets": {"MMBench": {"status": "done", "error_message": "boom\ntrace"},
                           "OCRBench": {"status": "done", "skip_reason": "No infer result found"},
                           "MME": {"status": "done", "metrics": {"acc": 1}}}}
    (tmp_path / "m" / "status.json").write_text(json.dumps(status))
    request = Requested(tmp_path, ["m"], ["MMBench", "OCRBench", "MME"], "all")
    assert failures(request, time.time() - 1) == ["m x MMBench: boom", "m x OCRBench: No infer result found"]

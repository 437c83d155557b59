"""Which wording a run used: package, official (an unedited import) or custom."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from clinhallu_tasks.clinhallu.prompts import TEMPLATE_DIR
from clinhallu_tasks.official import import_prompts, template_provenance, wording_provenance
from tests.official.fake_checkouts import COMMIT, write_clinhallu_checkout, write_medhalltune_checkout


@pytest.fixture
def out(tmp_path: Path) -> Path:
    folder = tmp_path / "templates"
    import_prompts(write_clinhallu_checkout(tmp_path / "ClinHallu"), folder)
    return folder


def env(folder: Path) -> dict[str, str]:
    return {"CLINHALLU_PROMPT_TEMPLATES": str(folder), "CLINHALLU_JUDGE_TEMPLATES": str(folder)}


def test_no_override_is_package_wording():
    record = template_provenance({})
    assert record["generation"]["wording"] == "package" and record["judge"]["wording"] == "package"


def test_package_fingerprints_are_the_packaged_files():
    templates = wording_provenance("generation", {})["templates"]
    expected = hashlib.sha256((TEMPLATE_DIR / "generation_user_image.txt").read_bytes()).hexdigest()
    assert templates["generation_user_image.txt"] == expected


def test_an_unedited_import_is_official_with_its_source(out):
    record = wording_provenance("generation", env(out))
    assert record["wording"] == "official"
    assert record["sources"] == [{"repository": "alibaba-damo-academy/ClinHallu", "commit": COMMIT}]


def test_judge_wording_of_an_import_is_official(out):
    assert wording_provenance("judge", env(out))["wording"] == "official"


def test_fingerprints_are_those_of_the_imported_files(out):
    record = wording_provenance("generation", env(out))
    expected = hashlib.sha256((out / "generation_system.txt").read_bytes()).hexdigest()
    assert record["templates"]["generation_system.txt"] == expected


def test_an_edited_imported_file_is_custom(out):
    path = out / "generation_continue_vr.txt"
    path.write_text(path.read_text(encoding="utf-8") + "One more line.\n", encoding="utf-8")
    assert wording_provenance("generation", env(out))["wording"] == "custom"


def test_a_removed_imported_file_is_custom(out):
    (out / "generation_user_text_only.txt").unlink()
    assert wording_provenance("generation", env(out))["wording"] == "custom"


def test_an_extra_hand_written_file_is_custom(out):
    (out / "generation_part_answer_open.txt").write_text("Answer briefly.\n", encoding="utf-8")
    assert wording_provenance("generation", env(out))["wording"] == "custom"


def test_a_folder_without_manifest_is_custom(tmp_path):
    (tmp_path / "generation_system.txt").write_text("Be careful.\n", encoding="utf-8")
    assert wording_provenance("generation", {"CLINHALLU_PROMPT_TEMPLATES": str(tmp_path)})["wording"] == "custom"


def test_editing_a_judge_file_leaves_generation_official(out):
    (out / "clinhallu_answer_user.txt").write_text("{question} {ground_truth} {model_answer}\n", encoding="utf-8")
    record = template_provenance(env(out))
    assert record["generation"]["wording"] == "official" and record["judge"]["wording"] == "custom"


def test_both_imports_in_one_folder_are_official_judges(out, tmp_path):
    import_prompts(write_medhalltune_checkout(tmp_path / "m"), out)
    record = wording_provenance("judge", env(out))
    assert record["wording"] == "official"
    assert [s["repository"] for s in record["sources"]] == ["alibaba-damo-academy/ClinHallu", "russellyq/MedHallTune"]

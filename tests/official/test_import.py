"""`import-prompts`: what it reads from a checkout, what it writes, and how it refuses."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from clinhallu_tasks.cli import main
from clinhallu_tasks.official import OfficialPromptError, import_prompts
from tests.official.fake_checkouts import (
    COMMIT,
    constants,
    write_clinhallu_checkout,
    write_medhalltune_checkout,
)

CLINHALLU_FILES = {
    "generation_system.txt",
    "generation_user_image.txt",
    "generation_user_text_only.txt",
    "generation_continue_vr.txt",
    "generation_continue_kr.txt",
    "generation_continue_vr_kr.txt",
    "clinhallu_answer_system.txt",
    "clinhallu_answer_user.txt",
    *(f"clinhallu_step_{s}_{p}.txt" for s in ("visual_recognition", "knowledge_recall", "reasoning")
      for p in ("system", "user")),
    "clinhallu_step_knowledge_recall_no_support.txt",
    "clinhallu_step_reasoning_no_support.txt",
}


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    return write_clinhallu_checkout(tmp_path / "ClinHallu")


def read(out: Path, name: str) -> str:
    return (out / name).read_text(encoding="utf-8")


# --- what is written -------------------------------------------------------------------------


def test_clinhallu_import_writes_every_template_and_a_manifest(checkout, tmp_path):
    result = import_prompts(checkout, tmp_path / "out")
    written = {p.name for p in (tmp_path / "out").iterdir()}
    assert written == CLINHALLU_FILES | {"import-prompts-clinhallu.json"}
    assert set(result.files) == CLINHALLU_FILES


def test_manifest_records_repository_commit_origin_and_sha256(checkout, tmp_path):
    out = tmp_path / "out"
    import_prompts(checkout, out)
    manifest = json.loads(read(out, "import-prompts-clinhallu.json"))
    assert manifest["repository"] == "alibaba-damo-academy/ClinHallu"
    assert manifest["commit"] == COMMIT
    entry = manifest["files"]["generation_continue_vr_kr.txt"]
    assert entry["from"] == "prompts/cot_generation.py:CONTINUE_FROM_VR_KR_PROMPT"
    assert entry["kind"] == "generation"
    for name, entry in manifest["files"].items():
        assert entry["sha256"] == hashlib.sha256((out / name).read_bytes()).hexdigest(), name


def test_commit_is_null_without_a_readable_git_dir(tmp_path):
    checkout = write_clinhallu_checkout(tmp_path / "c", with_git=False)
    assert import_prompts(checkout, tmp_path / "out").commit is None


def test_commit_is_read_from_a_loose_ref(checkout, tmp_path):
    (checkout / ".git" / "refs" / "heads" / "main").write_text("f" * 40 + "\n", encoding="utf-8")
    assert import_prompts(checkout, tmp_path / "out").commit == "f" * 40


def test_a_sent_as_is_constant_is_copied_verbatim(checkout, tmp_path):
    out = tmp_path / "out"
    import_prompts(checkout, out)
    system = constants(checkout, "prompts/cot_generation.py")["COT_SYSTEM_PROMPT"]
    assert read(out, "generation_system.txt") == system + "\n"


def test_a_format_template_has_escapes_undone_and_fields_renamed(checkout, tmp_path):
    out = tmp_path / "out"
    import_prompts(checkout, out)
    answer_user = read(out, "clinhallu_answer_user.txt")
    assert "Said: {model_answer}" in answer_user and "{predicted_answer}" not in answer_user
    assert '{\n  "answer_correct"' in answer_user and "{{" not in answer_user


def test_a_constant_built_with_plus_from_another_is_resolved(checkout, tmp_path):
    out = tmp_path / "out"
    import_prompts(checkout, out)
    assert read(out, "clinhallu_step_reasoning_user.txt").endswith('"reason": "why"\n}\n')


def test_an_alias_constant_is_resolved(checkout, tmp_path):
    out = tmp_path / "out"
    import_prompts(checkout, out)
    assert read(out, "generation_continue_vr_kr.txt") == read(out, "generation_continue_kr.txt")


def test_the_step_system_prompt_serves_all_three_step_judges(checkout, tmp_path):
    out = tmp_path / "out"
    import_prompts(checkout, out)
    steps = ("visual_recognition", "knowledge_recall", "reasoning")
    texts = {read(out, f"clinhallu_step_{s}_system.txt") for s in steps}
    assert len(texts) == 1


def test_the_empty_support_sentence_is_read_from_the_step_judge_code(checkout, tmp_path):
    out = tmp_path / "out"
    import_prompts(checkout, out)
    for step in ("knowledge_recall", "reasoning"):
        assert read(out, f"clinhallu_step_{step}_no_support.txt") == "NO-CTX: nothing else to go on.\n"
    manifest = json.loads(read(out, "import-prompts-clinhallu.json"))
    entry = manifest["files"]["clinhallu_step_reasoning_no_support.txt"]
    assert entry["from"] == "src/model_evaluation/step_hallucination_judge.py:_build_support_context"
    assert entry["kind"] == "judge"


def test_medhalltune_import_writes_its_three_judge_templates(tmp_path):
    checkout = write_medhalltune_checkout(tmp_path / "MedHallTune")
    out = tmp_path / "out"
    result = import_prompts(checkout, out)
    assert set(result.files) == {
        "medhalltune_judge_system.txt", "medhalltune_judge_user.txt", "medhalltune_judge_calibration.txt"
    }
    instruction = constants(checkout, "agent.py")["INSTRUCTION_PROMPT"]
    user = read(out, "medhalltune_judge_user.txt")
    assert instruction in user
    assert "CAP: {caption}" in user and "GOT: {answer}" in user and "KEY: {ground_truth}" in user
    # No {calibration}: our builder then sends the calibration as a message of its own, as agent.py does.
    assert "{calibration}" not in user and user.endswith("\n\n\n")
    assert read(out, "medhalltune_judge_calibration.txt") == (
        "EXAMPLE: {reference_answer}\n\nEXAMPLE SCORES: {reference_verdict}\n\n\n"
    )


def test_both_imports_share_one_folder(checkout, tmp_path):
    out = tmp_path / "out"
    import_prompts(checkout, out)
    import_prompts(write_medhalltune_checkout(tmp_path / "m"), out)
    assert {"import-prompts-clinhallu.json", "import-prompts-medhalltune.json"} <= {p.name for p in out.iterdir()}


# --- refusals ---------------------------------------------------------------------------------


def replace_in(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


def test_missing_constant_names_file_and_constant(checkout, tmp_path):
    replace_in(checkout / "prompts/judge.py", "ANSWER_JUDGE_SYSTEM_PROMPT =", "OTHER_NAME =")
    with pytest.raises(OfficialPromptError, match=r"prompts/judge\.py: constant ANSWER_JUDGE_SYSTEM_PROMPT not found"):
        import_prompts(checkout, tmp_path / "out")


def test_constant_that_is_not_a_plain_string_names_file_line_and_constant(checkout, tmp_path):
    replace_in(checkout / "prompts/cot_generation.py", "COT_SYSTEM_PROMPT = (", "COT_SYSTEM_PROMPT = str(")
    with pytest.raises(OfficialPromptError, match=r"cot_generation\.py, line 3: constant COT_SYSTEM_PROMPT is not"):
        import_prompts(checkout, tmp_path / "out")


def test_missing_module_names_the_file(checkout, tmp_path):
    (checkout / "prompts/step_hallucination_judge.py").unlink()
    with pytest.raises(OfficialPromptError, match=r"step_hallucination_judge\.py: no such file"):
        import_prompts(checkout, tmp_path / "out")


def test_missing_step_judge_code_names_the_file(checkout, tmp_path):
    (checkout / "src/model_evaluation/step_hallucination_judge.py").unlink()
    with pytest.raises(OfficialPromptError, match=r"src/model_evaluation/step_hallucination_judge\.py: no such file"):
        import_prompts(checkout, tmp_path / "out")


def test_a_support_builder_without_a_fallback_sentence_is_refused(checkout, tmp_path):
    replace_in(checkout / "src/model_evaluation/step_hallucination_judge.py",
               ' or "NO-CTX: nothing else to go on."', "")
    where = r"step_hallucination_judge\.py, line \d+: _build_support_context\(\)"
    with pytest.raises(OfficialPromptError, match=where):
        import_prompts(checkout, tmp_path / "out")


def test_unknown_format_field_is_refused(checkout, tmp_path):
    replace_in(checkout / "prompts/judge.py", "Key: {ground_truth}", "Key: {gold}")
    with pytest.raises(OfficialPromptError, match=r"ANSWER_JUDGE_USER_PROMPT_TEMPLATE has the field \{gold\}"):
        import_prompts(checkout, tmp_path / "out")


def test_literal_text_that_would_read_as_a_placeholder_is_refused(checkout, tmp_path):
    replace_in(checkout / "prompts/cot_generation.py", "{ not a field }", "{question}")
    with pytest.raises(OfficialPromptError, match=r"COT_SYSTEM_PROMPT contains the literal text '\{question\}'"):
        import_prompts(checkout, tmp_path / "out")


def test_a_folder_that_is_no_checkout_is_refused(tmp_path):
    with pytest.raises(OfficialPromptError, match=r"prompts/cot_generation\.py .* agent\.py"):
        import_prompts(tmp_path, tmp_path / "out")


def test_a_failed_import_writes_nothing(checkout, tmp_path):
    replace_in(checkout / "prompts/judge.py", "ANSWER_JUDGE_SYSTEM_PROMPT =", "OTHER_NAME =")
    with pytest.raises(OfficialPromptError):
        import_prompts(checkout, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_an_unknown_medhalltune_message_layout_is_refused(tmp_path):
    checkout = write_medhalltune_checkout(tmp_path / "m")
    replace_in(checkout / "agent.py", '{"role": "system", "content": "SYS-MHT be precise."},\n', "")
    roles = r"wrap_eval_message\(\) builds messages with roles \['user', 'user'\]"
    with pytest.raises(OfficialPromptError, match=roles):
        import_prompts(checkout, tmp_path / "out")


# --- the command ------------------------------------------------------------------------------


def test_command_imports_and_says_which_variables_to_set(checkout, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["import-prompts", str(checkout), "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert COMMIT in said and "CLINHALLU_PROMPT_TEMPLATES" in said and "CLINHALLU_JUDGE_TEMPLATES" in said
    assert (out / "generation_system.txt").is_file()


def test_command_reports_an_error_without_a_traceback(checkout, tmp_path, capsys):
    replace_in(checkout / "prompts/judge.py", "ANSWER_JUDGE_SYSTEM_PROMPT =", "OTHER_NAME =")
    assert main(["import-prompts", str(checkout), "--out", str(tmp_path / "out")]) == 1
    assert "constant ANSWER_JUDGE_SYSTEM_PROMPT not found" in capsys.readouterr().err

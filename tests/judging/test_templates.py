"""Template texts and filling shared by both judges: one loader, one type, one injection guard."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from clinhallu_tasks.judging.templates import PACKAGED, TemplateSet, defuse, fill, load, template_tags

TAGS = frozenset({"model_answer"})


@pytest.mark.parametrize(
    ("text", "defused"),
    [
        ("x</model_answer> y", "x&lt;/model_answer> y"),
        ("<model_answer>", "&lt;model_answer>"),
        ("</MODEL_ANSWER >", "&lt;/MODEL_ANSWER >"),
        ("< / model_answer>", "&lt; / model_answer>"),
        ("ends with </model_answer", "ends with &lt;/model_answer"),
        ("</model_answer.", "&lt;/model_answer."),
    ],
)
def test_a_template_tag_in_inserted_text_cannot_open_or_close_a_block(text, defused):
    assert defuse(text, TAGS) == defused


@pytest.mark.parametrize("text", ["<b>bold</b>", "lesion <5 mm", "<model_answers>", "<model_answer_2>"])
def test_other_angle_brackets_are_left_alone(text):
    assert defuse(text, TAGS) == text


def test_without_template_tags_text_is_unchanged():
    # The imported official templates have no tags: their values are sent exactly as given.
    assert fill("A: {answer}", {"answer": "x</model_answer>"}, defuse_tags=template_tags("A: {answer}")) \
        == "A: x</model_answer>"


def test_template_tags_are_found_opening_or_closing_in_any_case():
    assert template_tags("<Question>\n{q}\n</question>", "< / Model_Answer >") == {"question", "model_answer"}


def test_filling_is_one_pass_and_defuses_each_value():
    template = "<model_answer>{answer}</model_answer> <q>{question}</q>"
    filled = fill(template, {"answer": "{question}</q>", "question": "</model_answer>"},
                  defuse_tags=template_tags(template))
    assert filled == "<model_answer>{question}&lt;/q></model_answer> <q>&lt;/model_answer></q>"


def test_verbatim_values_are_inserted_as_they_are():
    filled = fill("{answer}\n{block}", {"answer": "<s>"}, defuse_tags={"s"}, verbatim={"block": "<s>ours</s>"})
    assert filled == "&lt;s>\n<s>ours</s>"


def test_a_placeholder_without_a_value_is_left_as_written():
    assert fill('{a} {b} {"x": 1}', {"a": "1"}) == '1 {b} {"x": 1}'


# ---------------------------------------------------------------- loading


@pytest.fixture
def template_set(tmp_path: Path) -> TemplateSet:
    packaged = tmp_path / "packaged"
    packaged.mkdir()
    (packaged / "t_system.txt").write_text("System.\n", encoding="utf-8")
    (packaged / "t_user.txt").write_text("User {answer}\n\n", encoding="utf-8")
    return TemplateSet(label="Test", packaged_dir=packaged, stray_prefix="t_", variable="TEST_TEMPLATES",
                       placeholders={"t_system.txt": frozenset(), "t_user.txt": frozenset({"answer"})})


def test_loaded_texts_say_where_each_came_from(template_set, tmp_path):
    override = tmp_path / "override"
    override.mkdir()
    (override / "t_user.txt").write_text("Edited {answer}\n", encoding="utf-8")
    templates = load(template_set, override)
    assert templates.sources == {"t_system.txt": PACKAGED, "t_user.txt": str(override / "t_user.txt")}
    assert templates.overridden == {"t_user.txt"}
    assert load(template_set).overridden == frozenset()


def test_a_template_is_used_less_one_final_newline(template_set):
    templates = load(template_set)
    assert templates.text("t_user.txt") == "User {answer}\n"
    assert templates.texts["t_user.txt"] == "User {answer}\n\n"


def test_fingerprints_are_the_sha256_of_each_file_as_read(template_set):
    expected = {name: hashlib.sha256((template_set.packaged_dir / name).read_bytes()).hexdigest()
                for name in template_set.names}
    assert load(template_set).fingerprints() == expected

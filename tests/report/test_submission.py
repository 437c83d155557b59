"""submission.json: shipped schema, self-validation, redaction, fingerprints."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import jsonschema
import pytest

from clinhallu_tasks.report import submission as sub
from clinhallu_tasks.report.command import main
from clinhallu_tasks.report.inputs import load_models
from clinhallu_tasks.report.scores import build_report
from tests.report.report_fixtures import full_model


@pytest.fixture(scope="module")
def doc(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("sub")
    full_model(
        root / "runs",
        "acme/med-vlm",
        0.6,
        0.4,
        n=30,
        seed=1,
        model_args="model_version=acme/med-vlm,api_key=sk-live-0123456789abcdefABCD,base_url=https://user:pw@host/v1",
    )
    assert main([str(root / "runs"), "--out", str(root / "report"), "--bootstrap-iters", "200", "--no-charts"]) == 0
    return json.loads((root / "report" / "submission.json").read_text(encoding="utf-8"))


def test_schema_file_is_a_valid_json_schema() -> None:
    schema = sub.load_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["properties"]["schema"]["const"] == sub.SCHEMA_ID == "clinhallu-tasks/submission/v1"


def test_report_output_validates_with_both_validators(doc: dict) -> None:
    schema = sub.load_schema()
    jsonschema.validate(doc, schema)
    assert sub._mini_validate(doc, schema, schema, "$") == []
    assert sub.validate_submission(doc) == []


def test_interface_keys_are_present(doc: dict) -> None:
    assert doc["schema"] == "clinhallu-tasks/submission/v1"
    for source in ("vqa-rad", "pathvqa", "medframeqa", "medxpertqa"):
        entry = doc["clinhallu"]["sources"][source]
        for key in ("acc", "h_v", "h_k", "h_r", "delta_v", "delta_vk", "delta_k", "valid_rate", "n"):
            assert key in entry
        assert entry["n"] == 30
    for key in ("acc", "h_v", "h_k", "h_r", "delta_v", "delta_vk", "valid_rate", "n"):
        assert key in doc["clinhallu"]["average"]
    for split in ("P", "N"):
        for key in ("clinical_accuracy", "clinical_relevance", "detail_level", "risk_level", "bertscore", "meteor"):
            assert isinstance(doc["medhalltune"][split][key], float)
    prov = doc["provenance"]
    assert prov["lmms_eval_version"]["recorded"] == ["main@unknown"]
    assert prov["judge"]["models"] == ["Qwen3.5-27B"]
    assert prov["generation"]["tasks"]["clinhallu_vqa_rad_baseline"]["temperature"] == 0.7
    assert prov["data"]["by_stratum"]["clinhallu:vqa_rad"]["items"] == 30
    assert len(prov["data"]["fingerprint"]) == 64
    fp = prov["prompt_fingerprints"]["tasks"]["clinhallu_vqa_rad_baseline"]
    assert len(fp["task_config_sha256"]) == 64 and len(fp["prompts_sent_sha256"]) == 64
    assert fp["recorded"] == {"task_metadata.prompt_template_sha256": ["ab" * 32]}
    assert prov["item_counts"]["clinhallu_vqa_rad_baseline"] == {
        "evaluated": 30,
        "original": 30,
        "logged": 30,
        "judgment_lines": 60,
    }


def test_secrets_do_not_reach_the_file(doc: dict) -> None:
    text = json.dumps(doc)
    assert "sk-live" not in text and "user:pw" not in text
    assert doc["model"]["model_args"] == [
        "model_version=acme/med-vlm,api_key=[REDACTED],base_url=https://[REDACTED]@host/v1"
    ]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            "pretrained=Qwen/Qwen2.5-VL-7B-Instruct,max_pixels=12845056",
            "pretrained=Qwen/Qwen2.5-VL-7B-Instruct,max_pixels=12845056",
        ),
        ("model=x,api_key=abc123", "model=x,api_key=[REDACTED]"),
        ("model=x,OPENAI_API_KEY=abc", "model=x,OPENAI_API_KEY=[REDACTED]"),
        ("model=x,hf_token=hf_abcdefghijklmnopqrstu", "model=x,hf_token=[REDACTED]"),
        ("token=t0k,password=p,client_secret=s", "token=[REDACTED],password=[REDACTED],client_secret=[REDACTED]"),
        ("base_url=http://a:b@h:8000/v1", "base_url=http://[REDACTED]@h:8000/v1"),
        ("url=https://h/v1?api_key=zzz&x=1", "url=https://h/v1?api_key=[REDACTED]&x=1"),
        ("note=sk-proj-abcdefghijkl1234", "note=[REDACTED]"),
        ("header=Bearer abcdefgh12345678", "header=[REDACTED]"),
        ("x=AKIAABCDEFGHIJKLMNOP", "x=[REDACTED]"),
        ("k=Zx81bQ93LmP0aa7Ttq22Wn5Rr8Yy1c", "k=[REDACTED]"),
        ("max_new_tokens=4096,tokenizer=foo,author=me", "max_new_tokens=4096,tokenizer=foo,author=me"),
        ("name=my-finetuned-medical-model-v2-checkpoint-final", "name=my-finetuned-medical-model-v2-checkpoint-final"),
    ],
)
def test_redact_text(raw: str, expected: str) -> None:
    assert sub.redact_text(raw) == expected


def test_redact_mappings() -> None:
    value = {
        "model": "m",
        "api_key": "whatever",
        "nested": {"Authorization": "Bearer x", "max_new_tokens": 16, "auth_token": None},
        "list": ["ok", "sk-abcdefghijklmnop"],
        "nan": math.nan,
    }
    assert sub.redact(value) == {
        "model": "m",
        "api_key": "[REDACTED]",
        "nested": {"Authorization": "[REDACTED]", "max_new_tokens": 16, "auth_token": None},
        "list": ["ok", "[REDACTED]"],
        "nan": None,
    }


@pytest.mark.parametrize(
    "breakage",
    [
        lambda d: d.update(schema="clinhallu-tasks/submission/v2"),
        lambda d: d["clinhallu"]["sources"].pop("pathvqa"),
        lambda d: d["clinhallu"]["sources"]["vqa-rad"].update(acc="high"),
        lambda d: d["clinhallu"]["sources"]["vqa-rad"].update(acc=140.0),
        lambda d: d["medhalltune"]["P"].update(clinical_accuracy=11.0),
        lambda d: d["clinhallu"]["average"]["ci"].update(acc=[1.0]),
        lambda d: d.update(extra=1),
        lambda d: d["provenance"].pop("data"),
        lambda d: d["clinhallu"]["sources"]["vqa-rad"].update(status="fine"),
    ],
)
def test_broken_documents_fail_both_validators(doc: dict, breakage) -> None:
    broken = copy.deepcopy(doc)
    breakage(broken)
    schema = sub.load_schema()
    assert sub._mini_validate(broken, schema, schema, "$")
    assert list(jsonschema.Draft202012Validator(schema).iter_errors(broken))


def test_nan_is_refused() -> None:
    assert sub.validate_submission({"schema": sub.SCHEMA_ID, "x": math.nan})[0].startswith("not strict JSON")


def test_data_fingerprint_ignores_run_and_model_but_not_items(tmp_path: Path) -> None:
    full_model(tmp_path / "a", "m1", 0.6, 0.4, n=20, seed=1, medhalltune=False)
    full_model(tmp_path / "a", "m2", 0.3, 0.7, n=20, seed=2, medhalltune=False)
    full_model(tmp_path / "b", "m3", 0.6, 0.4, n=21, seed=1, medhalltune=False)
    models, _ = load_models([tmp_path / "a", tmp_path / "b"])
    report = build_report(models, iters=20)
    fps = {m.name: sub.build_submission(m, report)["provenance"]["data"]["fingerprint"] for m in report.models}
    assert fps["m1"] == fps["m2"] != fps["m3"]

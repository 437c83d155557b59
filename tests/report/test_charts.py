"""Charts are written, are real PNGs and are not blank."""

from __future__ import annotations

from pathlib import Path

import pytest

from clinhallu_tasks.report.charts import slug, write_charts
from clinhallu_tasks.report.inputs import load_models
from clinhallu_tasks.report.scores import build_report
from tests.report.report_fixtures import SOURCES, TaskSpec, clin_items, full_model, write_run

PNG = b"\x89PNG\r\n\x1a\n"


def _check_png(path: Path) -> None:
    from PIL import Image

    data = path.read_bytes()
    assert data.startswith(PNG) and len(data) > 10_000, path
    with Image.open(path) as img:
        assert img.width >= 800 and img.height >= 300
        colors = img.convert("RGB").getcolors(maxcolors=1_000_000)
        assert colors is not None and len(colors) > 20  # bars, text, anti-aliasing: not blank


def test_charts_for_two_models(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    full_model(tmp_path / "runs", "org/model-a", 0.65, 0.35, n=30, seed=1, replace_kr=True)
    full_model(tmp_path / "runs", "model-b", 0.45, 0.55, n=30, seed=2)
    models, _ = load_models([tmp_path / "runs"])
    report = build_report(models, iters=200)
    written = write_charts(report, tmp_path / "charts")
    names = sorted(p.name for p in written)
    assert names == sorted(["comparison.png", "medhalltune.png", "stages_model-b.png", "stages_org_model-a.png"])
    for p in written:
        _check_png(p)


def test_charts_with_partial_data(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    tasks = {f"clinhallu_{s}_baseline": TaskSpec(clin_items(s, "baseline", 10, 0.5, 0.5, 0)) for s in SOURCES[:2]}
    tasks["clinhallu_sample_baseline"] = TaskSpec(clin_items("sample", "baseline", 5, 0.5, 0.5, 0))
    write_run(tmp_path / "runs", "only-baseline", tasks, samples=False)
    models, _ = load_models([tmp_path / "runs"])
    written = write_charts(build_report(models, iters=50), tmp_path / "charts")
    assert {p.name for p in written} == {"stages_only-baseline.png", "comparison.png"}
    for p in written:
        _check_png(p)


def test_slug() -> None:
    assert slug("Qwen/Qwen2.5-VL-7B") == "Qwen_Qwen2.5-VL-7B"
    assert slug("///") == "model"

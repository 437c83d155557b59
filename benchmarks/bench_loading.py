"""Time to index a full-size synthetic ClinHallu data root (7,031 records, tiny images).

Builds a flat-layout root with the four sources (record shapes like the real ones, one
tiny PNG per image, MedFrameQA items with 3 frames), then times what a task does at
load: read and validate every record, check every image file exists, and build the
lmms-eval documents. Goal: under 5 s. Prints; asserts nothing.

    .venv/bin/python benchmarks/bench_loading.py [--keep DIR]
"""

from __future__ import annotations

import argparse
import io
import json
import tempfile
import time
from pathlib import Path

from PIL import Image

from clinhallu_tasks.clinhallu.items import SOURCES
from clinhallu_tasks.clinhallu.loading import load_source, missing_images

# Roughly the benchmark's mix; the real per-source counts are not published.
COUNTS = {"vqa_rad": 451, "pathvqa": 3362, "medframeqa": 2000, "medxpertqa": 1218}  # 7,031 in all


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (8, 8), 128).save(buffer, format="PNG")
    return buffer.getvalue()


def build_root(root: Path) -> int:
    png = _png()
    gold = {
        "raw": "...",
        "visual_recognition": {"text": "A rounded opacity in the left lower zone with clear margins."},
        "knowledge_recall": {"text": "Consolidation appears as airspace opacity with air bronchograms."},
        "reasoning": {"text": "The opacity fits consolidation rather than a mass.", "answer": "B. Pneumonia"},
    }
    total = 0
    for source in SOURCES:
        folder = root / source.key
        (folder / "images").mkdir(parents=True)
        lines = []
        for i in range(COUNTS[source.name]):
            frames = 3 if source.name == "medframeqa" else 1
            names = [f"{source.name}_{i}_{f}.png" for f in range(frames)]
            for name in names:
                (folder / "images" / name).write_bytes(png)
            record = {
                "source_id": f"{source.name}-{i}",
                "question": f"Question {i} about the image?",
                "images": names,
                "split": "test",
                "gold_cot": gold,
                "cot_valid": True,
            }
            if source.name in ("medframeqa", "medxpertqa"):
                record.update(
                    question_type="multiple_choice",
                    options=["A. Mass", "B. Pneumonia", "C. Effusion", "D. Normal"],
                    answer="B. Pneumonia",
                    answer_letter="B",
                )
            else:
                record.update(question_type="yes_no" if i % 2 else "open_ended", answer="yes" if i % 2 else "fat")
            lines.append(json.dumps(record))
        (folder / "gold_cot.jsonl").write_text("\n".join(lines) + "\n")
        total += len(lines)
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="build the root here and keep it")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp)
        started = time.perf_counter()
        total = build_root(root)
        print(f"built {total} records in {time.perf_counter() - started:.1f}s at {root}")

        import datasets

        started = time.perf_counter()
        items = [item for source in SOURCES for item in load_source(source.name, root)]
        read = time.perf_counter()
        missing = list(missing_images(items))
        checked = time.perf_counter()
        # The rows lmms-eval gets from our process_docs (clinhallu_tasks/lmms/hooks.py): ids, not items.
        docs = datasets.Dataset.from_list([
            {"task": f"clinhallu_{item.source}_baseline", "item_id": item.item_id, "target": item.answer}
            for item in items
        ])
        done = time.perf_counter()

        print(f"read + validate {len(items)} records: {read - started:.2f}s")
        print(f"check {sum(len(i.image_paths) for i in items)} image files: {checked - read:.2f}s "
              f"({len(missing)} missing)")
        print(f"build {len(docs)} lmms-eval documents: {done - checked:.2f}s")
        print(f"index total: {done - started:.2f}s (goal: under 5 s)")


if __name__ == "__main__":
    main()

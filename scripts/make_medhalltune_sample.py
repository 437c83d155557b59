"""Write MedHallTune data roots from the released annotation files, with stand-in images.

Two uses:
- `python scripts/make_medhalltune_sample.py` (from the repo root) regenerates the embedded
  sample `clinhallu_tasks/data/medhalltune_sample/`: a few P and N questions copied verbatim
  from the released files, their LLaVA-Med reference rows, and small synthetic images. The
  output is committed and ships in the wheel.
- tests import `write_data_root` to build a full data root (all 2,238 questions) in a
  temporary folder, since the real figures are not redistributable here.

The images are grey-scale drawings derived only from the file name (no patient data, no
randomness beyond a hash of the name), so every run writes the same bytes.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
from collections.abc import Iterable, Mapping
from pathlib import Path

from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parents[1]
SAMPLE_DIR = REPO / "clinhallu_tasks" / "data" / "medhalltune_sample"
SHIPPED_DIR = REPO.parent / "shared" / "data" / "medhalltune"

QUESTION_FILES = {"P": "val_positive_qa-filtered.jsonl", "N": "val_negative_qa-filtered.jsonl"}
REFERENCE_FILES = {
    "P": "llava-med-prediction-postive-GPT4o-eval-filtered.jsonl",
    "N": "llava-med-prediction-negative-GPT4o-eval-filtered.jsonl",
}

# The sample: (split, question_id) pairs, two figures per split.
SAMPLE_KEYS: dict[str, tuple[int, ...]] = {"P": (0, 2, 7), "N": (1, 2, 6)}
IMAGE_SIZE = 64


def standin_image(name: str, size: int = IMAGE_SIZE) -> bytes:
    """A small synthetic figure for `name`, as JPEG (or PNG) bytes; the same name gives the same bytes."""
    seed = hashlib.sha256(name.encode("utf-8")).digest()
    image = Image.new("L", (size, size), seed[0] // 4)
    draw = ImageDraw.Draw(image)
    for i in range(4):  # four blobs whose place, size and shade come from the hash
        x, y = seed[1 + i] % size, seed[5 + i] % size
        r = 4 + seed[9 + i] % (size // 4)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=64 + seed[13 + i] % 192)
    buffer = io.BytesIO()
    if name.lower().endswith(".png"):
        image.save(buffer, format="PNG", optimize=False)
    else:
        image.save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


def _rows(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _write_jsonl(path: Path, rows: Iterable[Mapping]) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")


def write_data_root(source: Path, dest: Path, keys: Mapping[str, Iterable[int]] | None = None) -> Path:
    """Copy the released rows (all, or the question ids in `keys` per split) and draw their images."""
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "images").mkdir(exist_ok=True)
    images: set[str] = set()
    for split in ("P", "N"):
        wanted = None if keys is None else set(keys[split])
        for files in (QUESTION_FILES, REFERENCE_FILES):
            rows = _rows(source / files[split])
            if wanted is not None:
                rows = [row for row in rows if row["question_id"] in wanted]
            _write_jsonl(dest / files[split], rows)
            images.update(row["image"] for row in rows)
    for name in sorted(images):
        (dest / "images" / name).write_bytes(standin_image(name))
    return dest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=SHIPPED_DIR, help="folder with the released files")
    parser.add_argument("--dest", type=Path, default=SAMPLE_DIR)
    args = parser.parse_args()
    write_data_root(args.source, args.dest, SAMPLE_KEYS)
    print(f"wrote {args.dest}")


if __name__ == "__main__":
    main()

"""`clinhallu-tasks check`: validate a ClinHallu data root before a long run."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

from clinhallu_tasks.clinhallu.items import SOURCES
from clinhallu_tasks.clinhallu.loading import (
    DATA_DIR_VARIABLE,
    data_root_from_env,
    locate_source,
    missing_images,
    read_items,
)
from clinhallu_tasks.errors import ClinHalluTasksError


def check_clinhallu_root(root: Path | None = None, *, max_listed: int = 20) -> int:
    """Print per-source counts and every problem found; 0 when the root is usable as a whole."""
    try:
        root = root if root is not None else data_root_from_env()
    except ClinHalluTasksError as exc:
        print(f"error: {exc}")
        return 2
    print(f"ClinHallu data root: {root}")
    problems = 0
    total = 0
    for source in SOURCES:
        try:
            files = locate_source(root, source)
            items = read_items(files)
        except ClinHalluTasksError as exc:
            print(f"  {source.label:<11} PROBLEM: {exc}")
            problems += 1
            continue
        types = Counter(item.question_type for item in items)
        n_images = sum(len(item.image_paths) for item in items)
        missing = list(missing_images(items))
        total += len(items)
        kinds = ", ".join(f"{name} {count}" for name, count in sorted(types.items()))
        print(
            f"  {source.label:<11} {len(items):>5} items ({kinds}); {n_images} images, "
            f"{len(missing)} missing; {files.layout} layout: {files.gold_file}"
        )
        if missing:
            problems += 1
            if not os.path.isdir(files.image_dir):
                print(f"      image folder not found: {files.image_dir}")
            for item, path in missing[:max_listed]:
                print(f"      missing image for {item.item_id}: {path}")
            if len(missing) > max_listed:
                print(f"      ... and {len(missing) - max_listed} more")
    print(f"Total: {total} items (the benchmark releases 7,031 across the four sources).")
    if problems:
        print(f"{problems} source(s) with problems. {DATA_DIR_VARIABLE} must name a root that holds all four.")
        return 1
    print("OK")
    return 0

"""Write the embedded ClinHallu sample: 12 items in the released record format.

The images are synthetic grey-scale drawings made deterministically here (no patient
data); the gold traces are written for them. Run from the repo root to regenerate
`clinhallu_tasks/data/clinhallu_sample/`; the output is committed and ships in the wheel.
"""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image, ImageDraw

OUT = Path(__file__).resolve().parents[1] / "clinhallu_tasks" / "data" / "clinhallu_sample"
SIZE = 96


def _canvas(background: int = 20) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    image = Image.new("L", (SIZE, SIZE), background)
    return image, ImageDraw.Draw(image)


def chest(effusion: bool, big_heart: bool) -> Image.Image:
    image, draw = _canvas()
    draw.ellipse((10, 12, 44, 84), fill=70)  # right lung field
    draw.ellipse((52, 12, 86, 84), fill=70)  # left lung field
    heart = (38, 46, 74, 80) if big_heart else (42, 52, 62, 78)
    draw.ellipse(heart, fill=180)
    if effusion:
        draw.rectangle((52, 66, 86, 84), fill=200)  # fluid level at the left base
    return image


def abdomen_ct(lesion_side: str | None) -> Image.Image:
    image, draw = _canvas()
    draw.ellipse((8, 14, 88, 82), fill=90)  # body outline
    draw.ellipse((16, 24, 50, 60), fill=140)  # liver, patient right = image left
    draw.ellipse((44, 34, 56, 46), fill=230)  # vertebra
    if lesion_side == "left":
        draw.ellipse((64, 30, 76, 42), fill=40)
    elif lesion_side == "right":
        draw.ellipse((24, 32, 34, 42), fill=40)
    return image


def tissue(pattern: str) -> Image.Image:
    image, draw = _canvas(235)
    for i in range(6):
        for j in range(6):
            x, y = 6 + i * 15, 6 + j * 15
            if pattern == "regular":
                draw.ellipse((x, y, x + 6, y + 6), fill=90)
            else:  # crowded, irregular nuclei
                r = 4 + (i * 7 + j * 3) % 6
                draw.ellipse((x, y, x + r + 4, y + r), fill=40)
    return image


def echo_frame(phase: int) -> Image.Image:
    image, draw = _canvas(5)
    draw.pieslice((4, -40, 92, 92), 60, 120, fill=50)  # ultrasound sector
    inset = 6 + phase * 4
    draw.ellipse((34 + inset // 2, 30 + inset // 2, 62 - inset // 2, 70 - inset // 2), fill=10)
    return image


def brain_mri(mass: bool) -> Image.Image:
    image, draw = _canvas(0)
    draw.ellipse((14, 8, 82, 88), fill=120)
    draw.ellipse((24, 18, 72, 78), fill=150)
    if mass:
        draw.ellipse((54, 28, 70, 44), fill=245)
    return image


def trace(vr: str, kr: str, reasoning: str, answer: str) -> dict:
    raw = f"[Visual Recognition]\n{vr}\n[Knowledge Recall]\n{kr}\n[Reasoning]\n{reasoning}\n[Answer] {answer}"
    return {
        "raw": raw,
        "visual_recognition": {"text": vr},
        "knowledge_recall": {"text": kr},
        "reasoning": {"text": reasoning, "answer": answer},
    }


def items() -> list[tuple[dict, dict[str, Image.Image]]]:
    rows = []

    def add(record: dict, images: dict[str, Image.Image]) -> None:
        record.update({"images": list(images), "split": "test", "cot_valid": True})
        record["gold_cot_meta"] = {"generator": "clinhallu-tasks embedded sample", "synthetic": True}
        rows.append((record, images))

    add(
        {
            "source_id": "sample-yn-01",
            "source": "vqa-rad",
            "modality": "X-ray",
            "question": "Is there a pleural effusion?",
            "answer": "yes",
            "question_type": "yes_no",
            "gold_cot": trace(
                "Frontal chest radiograph. Both lung fields are visible. A dense homogeneous "
                "opacity fills the lower part of the left hemithorax with a flat upper border.",
                "A pleural effusion appears on a frontal radiograph as dependent homogeneous "
                "opacity blunting the costophrenic angle, often with a meniscus or fluid level.",
                "The dependent dense opacity at the left base with a flat upper border matches the "
                "appearance of pleural fluid, so an effusion is present.",
                "yes",
            ),
        },
        {"yn01.png": chest(effusion=True, big_heart=False)},
    )
    add(
        {
            "source_id": "sample-yn-02",
            "source": "vqa-rad",
            "modality": "X-ray",
            "question": "Is the heart enlarged?",
            "answer": "no",
            "question_type": "yes_no",
            "gold_cot": trace(
                "Frontal chest radiograph with two clear lung fields. The cardiac silhouette is "
                "small and occupies well under half of the chest width.",
                "Cardiomegaly on a frontal chest film is suggested when the cardiothoracic ratio "
                "exceeds about 0.5.",
                "The cardiac silhouette spans much less than half the thoracic width, so the "
                "cardiothoracic ratio is normal and the heart is not enlarged.",
                "no",
            ),
        },
        {"yn02.png": chest(effusion=False, big_heart=False)},
    )
    add(
        {
            "source_id": "sample-yn-03",
            "source": "pathvqa",
            "question": "Does this tissue show features of malignancy?",
            "answer": "yes",
            "question_type": "yes_no",
            "gold_cot": trace(
                "Microscopic field with crowded dark nuclei of varying size and irregular outline, "
                "distributed without an orderly arrangement.",
                "Malignant tissue typically shows nuclear pleomorphism, hyperchromasia, crowding "
                "and loss of normal architecture.",
                "The nuclei are crowded, dark and of unequal size with disordered arrangement, "
                "which are features of malignancy.",
                "yes",
            ),
        },
        {"yn03.png": tissue("irregular")},
    )
    add(
        {
            "source_id": "sample-yn-04",
            "source": "pathvqa",
            "question": "Are the nuclei arranged in a regular pattern?",
            "answer": "yes",
            "question_type": "yes_no",
            "gold_cot": trace(
                "Microscopic field with small round nuclei of equal size spaced evenly in rows "
                "and columns on a pale background.",
                "Benign, well-differentiated tissue keeps uniform nuclei and an orderly, "
                "regular spatial arrangement.",
                "The nuclei are uniform and evenly spaced in rows, so their arrangement is regular.",
                "yes",
            ),
        },
        {"yn04.png": tissue("regular")},
    )
    add(
        {
            "source_id": "sample-open-01",
            "source": "vqa-rad",
            "modality": "CT",
            "question": "Which side of the abdomen contains the low-density lesion?",
            "answer": "left",
            "question_type": "open_ended",
            "gold_cot": trace(
                "Axial CT of the upper abdomen. A small round low-density focus lies on the right "
                "side of the image, opposite the large homogeneous organ on the image left.",
                "Axial CT images are displayed in radiological convention: the patient's left "
                "appears on the right side of the image.",
                "The lesion is on the image right, which in radiological convention is the "
                "patient's left side.",
                "left",
            ),
        },
        {"open01.png": abdomen_ct("left")},
    )
    add(
        {
            "source_id": "sample-open-02",
            "source": "vqa-rad",
            "modality": "CT",
            "question": "Which organ occupies the upper left of this image?",
            "answer": "liver",
            "question_type": "open_ended",
            "gold_cot": trace(
                "Axial CT of the upper abdomen. A large homogeneous soft-tissue organ fills the "
                "upper left of the image, beside a bright round bony structure in the midline.",
                "In radiological convention the image left is the patient's right; the liver is "
                "the large homogeneous organ of the right upper abdomen.",
                "A large homogeneous organ on the image left, the patient's right upper abdomen, "
                "is the liver.",
                "liver",
            ),
        },
        {"open02.png": abdomen_ct(None)},
    )
    add(
        {
            "source_id": "sample-open-03",
            "source": "pathvqa",
            "question": "How are the nuclei in this field described?",
            "answer": "pleomorphic",
            "question_type": "open_ended",
            "gold_cot": trace(
                "Microscopic field with dark nuclei that differ in size and shape, some oval and "
                "some irregular, crowded together.",
                "Variation of nuclear size and shape within one population of cells is called "
                "nuclear pleomorphism.",
                "The nuclei vary markedly in size and shape, so they are pleomorphic.",
                "pleomorphic",
            ),
        },
        {"open03.png": tissue("irregular")},
    )
    add(
        {
            "source_id": "sample-mc-01",
            "source": "medxpertqa",
            "specialty": "Neurology",
            "body_system": "Nervous",
            "task": "Diagnosis",
            "question": "What is the most likely finding in this axial brain MRI?",
            "options": ["A. Normal study", "B. Focal mass lesion", "C. Diffuse atrophy", "D. Hydrocephalus"],
            "answer": "B. Focal mass lesion",
            "answer_letter": "B",
            "question_type": "multiple_choice",
            "gold_cot": trace(
                "Axial brain MRI. A well-defined round bright focus sits in the right upper part "
                "of the image within otherwise uniform brain tissue; the ventricles are not shown "
                "as enlarged.",
                "A focal mass appears as a circumscribed region of abnormal signal; atrophy widens "
                "sulci diffusely and hydrocephalus enlarges the ventricles.",
                "A single circumscribed abnormal focus without diffuse change or ventricular "
                "enlargement fits a focal mass lesion.",
                "B. Focal mass lesion",
            ),
        },
        {"mc01.png": brain_mri(mass=True)},
    )
    add(
        {
            "source_id": "sample-mc-02",
            "source": "medxpertqa",
            "specialty": "Radiology",
            "body_system": "Respiratory",
            "task": "Diagnosis",
            "question": (
                "A 70-year-old presents with dyspnea. Based on the radiograph, what is the best "
                "description? Answer Choices: (A) Normal chest (B) Left pleural effusion "
                "(C) Right pneumothorax (D) Cardiomegaly (E) Pulmonary edema"
            ),
            "options": [
                "A. Normal chest",
                "B. Left pleural effusion",
                "C. Right pneumothorax",
                "D. Cardiomegaly",
                "E. Pulmonary edema",
            ],
            "answer": "B. Left pleural effusion",
            "answer_letter": "B",
            "question_type": "multiple_choice",
            "gold_cot": trace(
                "Frontal chest radiograph. A dense opacity with a flat upper border occupies the "
                "lower left hemithorax; the cardiac silhouette is small.",
                "Pleural effusion produces dependent homogeneous opacity at the lung base; "
                "pneumothorax shows a lucent rim without lung markings; cardiomegaly enlarges "
                "the cardiac silhouette.",
                "The dependent opacity at the left base with a normal heart size indicates a left "
                "pleural effusion rather than the other choices.",
                "B. Left pleural effusion",
            ),
        },
        {"mc02.png": chest(effusion=True, big_heart=False)},
    )
    add(
        {
            "source_id": "sample-mc-03",
            "source": "medxpertqa",
            "specialty": "Cardiology",
            "body_system": "Cardiovascular",
            "task": "Diagnosis",
            "question": "Which abnormality is shown on this chest radiograph?",
            "options": ["A. Cardiomegaly", "B. Pneumothorax", "C. Rib fracture", "D. Pleural effusion"],
            "answer": "A. Cardiomegaly",
            "answer_letter": "A",
            "question_type": "multiple_choice",
            "gold_cot": trace(
                "Frontal chest radiograph. The cardiac silhouette is broad and spans more than "
                "half of the chest width; both lung bases are clear.",
                "A cardiothoracic ratio above 0.5 on a frontal film indicates cardiomegaly.",
                "The heart occupies more than half of the thoracic width with clear bases, so the "
                "abnormality is cardiomegaly.",
                "A. Cardiomegaly",
            ),
        },
        {"mc03.png": chest(effusion=False, big_heart=True)},
    )
    add(
        {
            "source_id": "sample-frames-01",
            "source": "medframeqa",
            "video_id": "synthetic-echo-1",
            "modality": "Ultrasound",
            "organ": "Heart",
            "system": "Cardiovascular",
            "keyword": "ventricular contraction",
            "question": "Across the three frames, how does the dark chamber change in size?",
            "options": ["A. It grows", "B. It shrinks", "C. It stays the same", "D. It disappears"],
            "answer": "B. It shrinks",
            "answer_letter": "B",
            "question_type": "multiple_choice",
            "gold_cot": trace(
                "Three ultrasound sector frames in order. A dark oval chamber in the centre is "
                "largest in the first frame and becomes smaller in the second and third.",
                "Fluid-filled cardiac chambers are dark (anechoic) on ultrasound, and a ventricle "
                "shrinks as it contracts during systole.",
                "The dark chamber becomes progressively smaller from the first to the third frame, "
                "so it shrinks.",
                "B. It shrinks",
            ),
        },
        {"frames01_1.png": echo_frame(0), "frames01_2.png": echo_frame(1), "frames01_3.png": echo_frame(2)},
    )
    add(
        {
            "source_id": "sample-frames-02",
            "source": "medframeqa",
            "video_id": "synthetic-echo-2",
            "modality": "Ultrasound",
            "organ": "Heart",
            "system": "Cardiovascular",
            "keyword": "ventricular filling",
            "question": "Comparing the first frame with the second, what happens to the dark chamber?",
            "options": ["A. It enlarges", "B. It shrinks", "C. It is unchanged"],
            "answer": "A. It enlarges",
            "answer_letter": "A",
            "question_type": "multiple_choice",
            "gold_cot": trace(
                "Two ultrasound sector frames in order. The dark central oval chamber is small in "
                "the first frame and clearly larger in the second.",
                "An anechoic cardiac chamber enlarges as it fills with blood during diastole.",
                "The chamber is larger in the second frame than in the first, so it enlarges.",
                "A. It enlarges",
            ),
        },
        {"frames02_1.png": echo_frame(2), "frames02_2.png": echo_frame(0)},
    )
    return rows


def main() -> None:
    image_dir = OUT / "images"
    image_dir.mkdir(parents=True, exist_ok=True)
    lines = []
    for record, images in items():
        for name, image in images.items():
            image.save(image_dir / name, optimize=True)
        lines.append(json.dumps(record, ensure_ascii=False))
    (OUT / "gold_cot.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {len(lines)} items to {OUT}")


if __name__ == "__main__":
    main()

"""A tiny random-weight LLaVA checkpoint, built locally, for demos and end-to-end tests.

`build_tiny_llava(target)` writes a complete Hugging Face checkpoint that lmms-eval's
`llava_hf` backend loads by path, offline, on CPU:

- `LlavaForConditionalGeneration`: a 2-layer CLIP vision tower (32x32 input, 8x8 patches,
  so 16 image tokens per image) and a 2-layer Llama text model, random weights;
- a byte-level BPE tokenizer trained here by the `tokenizers` library on a small built-in
  English/medical corpus (any text encodes; no unknown tokens), with `<image>`, `<pad>`,
  `<s>` and `</s>` as special tokens;
- a CLIP image processor and a `LlavaProcessor` whose chat template accepts both plain
  string contents (lmms-eval's simple backend) and lists of image/text parts (its chat
  backend, the default for `--model llava_hf`).

The weights are random: the model exercises the pipeline (loading, prompting, image
features, generation, decoding); what it writes means nothing. Everything is seeded, so a
build is deterministic. Nothing is downloaded.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

# Bump when the checkpoint's content changes: an older build at the target is replaced.
BUILD_VERSION = 1
MARKER_FILE = "clinhallu_tiny_model.json"
SEED = 1234
WEIGHT_STD = 0.2

IMAGE_SIZE = 32
PATCH_SIZE = 8
IMAGE_TOKENS_PER_IMAGE = (IMAGE_SIZE // PATCH_SIZE) ** 2  # CLS dropped ("default" strategy)
VOCAB_SIZE = 1024
MAX_POSITIONS = 8192

IMAGE_TOKEN = "<image>"
PAD_TOKEN = "<pad>"
BOS_TOKEN = "<s>"
EOS_TOKEN = "</s>"
SPECIAL_TOKENS = (PAD_TOKEN, BOS_TOKEN, EOS_TOKEN, IMAGE_TOKEN)

# One template for the tokenizer and the processor (both save chat_template.jinja):
# `content` may be a string or a list of {"type": "image"|"text", ...} parts.
CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{{- message['role'] | upper ~ ': ' -}}"
    "{%- if message['content'] is string -%}"
    "{{- message['content'] -}}"
    "{%- else -%}"
    "{%- for part in message['content'] -%}"
    "{%- if part['type'] == 'image' -%}{{- '<image>\n' -}}"
    "{%- elif part['type'] == 'text' -%}{{- part['text'] -}}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- endif -%}"
    "{%- if message['role'] == 'assistant' -%}{{- eos_token -}}{%- endif -%}"
    "{{- '\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- 'ASSISTANT:' -}}{%- endif -%}"
)

_REQUIRED_FILES = (
    MARKER_FILE,
    "config.json",
    "model.safetensors",
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "processor_config.json",
)

_CORPUS = """\
[Visual Recognition]
[Knowledge Recall]
[Reasoning]
[Answer]
Frontal chest radiograph. Both lung fields are visible and the heart size is normal.
A dense homogeneous opacity fills the lower part of the left hemithorax with a flat upper border.
The costophrenic angle is blunted and a meniscus is seen along the lateral chest wall.
Axial computed tomography of the abdomen shows the liver, spleen, kidneys and bowel loops.
A hypodense lesion is present in the right lobe of the liver with an enhancing rim.
Magnetic resonance imaging of the brain, T2 weighted sequence, shows a bright signal in the white matter.
Histology slide stained with hematoxylin and eosin at high magnification.
The tissue shows glands lined by columnar epithelium with crowded nuclei and frequent mitoses.
Ultrasound image of the kidney shows dilation of the collecting system without a visible stone.
The image shows an endoscopic view of the gastric mucosa with a shallow ulcer.
A pleural effusion appears as dependent opacity blunting the costophrenic angle.
Pneumothorax is recognized by a visceral pleural line with absent lung markings beyond it.
Cardiomegaly is present when the cardiothoracic ratio exceeds one half on a frontal view.
Consolidation shows air bronchograms within an area of increased lung density.
An infarct appears hypodense on computed tomography in a vascular territory.
Malignant cells show nuclear pleomorphism, hyperchromasia and invasion of the stroma.
Granulomas are compact collections of epithelioid histiocytes, sometimes with giant cells.
The question asks which organ is shown, whether an abnormality is present, and where it is.
The dependent dense opacity at the left base matches the appearance of pleural fluid, so an effusion is present.
The lesion has an enhancing rim and central low density, which fits an abscess rather than a simple cyst.
Therefore the answer is yes. Therefore the answer is no. The correct option is C.
Which of the following is the most likely diagnosis? A. Pneumonia B. Effusion C. Lung cancer D. Normal
Is there a fracture of the femur? Is the heart enlarged? What organ is shown in this image?
Look at the image carefully and answer the question. Write each step under its header.
Describe only what is seen. State the medical knowledge the question needs without referring to the image.
Combine the two and end with the final answer. Answer with the letter and the option text.
Answer yes or no. Do not invent option letters when no options are shown.
The previous steps are given; continue with the remaining steps in the same format.
patient, radiology, pathology, anatomy, lesion, mass, nodule, effusion, fracture, edema,
left, right, upper, lower, anterior, posterior, medial, lateral, axial, coronal, sagittal,
lung, heart, liver, kidney, brain, spine, bone, muscle, vessel, artery, vein, bowel, stomach,
normal, abnormal, benign, malignant, acute, chronic, mild, moderate, severe, present, absent.
"""


def _corpus_lines() -> list[str]:
    lines = [line for line in _CORPUS.splitlines() if line.strip()]
    # Repetition gives the trainer stable pair counts; lowercase copies widen the vocabulary.
    return lines * 4 + [line.lower() for line in lines] * 2


def _is_complete(target: Path) -> bool:
    try:
        marker = json.loads((target / MARKER_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return marker.get("build_version") == BUILD_VERSION and all((target / f).is_file() for f in _REQUIRED_FILES)


def _train_tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        min_frequency=2,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(_corpus_lines(), trainer=trainer)
    bos_id = tokenizer.token_to_id(BOS_TOKEN)
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{BOS_TOKEN} $A", pair=f"{BOS_TOKEN} $A $B", special_tokens=[(BOS_TOKEN, bos_id)]
    )
    return tokenizer


def _build_into(folder: Path) -> int:
    """Write the whole checkpoint into `folder`; return its parameter count."""
    import torch
    from transformers import (
        CLIPImageProcessor,
        CLIPVisionConfig,
        GenerationConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
        PreTrainedTokenizerFast,
    )
    from transformers.utils import logging as hf_logging

    backend = _train_tokenizer()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token=BOS_TOKEN,
        eos_token=EOS_TOKEN,
        pad_token=PAD_TOKEN,
        model_max_length=MAX_POSITIONS,
        padding_side="left",
        chat_template=CHAT_TEMPLATE,
    )
    ids = {tok: tokenizer.convert_tokens_to_ids(tok) for tok in SPECIAL_TOKENS}
    vocab_size = len(tokenizer)

    image_processor = CLIPImageProcessor(
        size={"shortest_edge": IMAGE_SIZE},
        crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE},
        do_center_crop=True,
        do_convert_rgb=True,
    )
    processor = LlavaProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        patch_size=PATCH_SIZE,
        vision_feature_select_strategy="default",
        # CLIP adds a CLS feature that the "default" strategy drops again: with 1 here the
        # processor expands <image> to exactly as many tokens as there are image features.
        num_additional_image_tokens=1,
        chat_template=CHAT_TEMPLATE,
    )

    vision_config = CLIPVisionConfig(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        image_size=IMAGE_SIZE,
        patch_size=PATCH_SIZE,
        projection_dim=32,
    )
    text_config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=MAX_POSITIONS,
        bos_token_id=ids[BOS_TOKEN],
        eos_token_id=ids[EOS_TOKEN],
        pad_token_id=ids[PAD_TOKEN],
        tie_word_embeddings=True,
    )
    config = LlavaConfig(
        vision_config=vision_config,
        text_config=text_config,
        image_token_index=ids[IMAGE_TOKEN],
        image_seq_length=IMAGE_TOKENS_PER_IMAGE,
        vision_feature_select_strategy="default",
        vision_feature_layer=-1,
        projector_hidden_act="gelu",
        tie_word_embeddings=True,
    )
    config.pad_token_id = ids[PAD_TOKEN]

    torch.manual_seed(SEED)
    model = LlavaForConditionalGeneration(config).to(torch.float32).eval()
    # The default init (std 0.02) makes a tiny random model print one token for any
    # input; wider weights make its (still meaningless) output depend on image and text.
    generator = torch.Generator().manual_seed(SEED)
    with torch.no_grad():
        for _, param in sorted(model.named_parameters()):
            if param.dim() >= 2:
                param.normal_(0.0, WEIGHT_STD, generator=generator)
    model.generation_config = GenerationConfig(
        bos_token_id=ids[BOS_TOKEN],
        eos_token_id=ids[EOS_TOKEN],
        pad_token_id=ids[PAD_TOKEN],
        # Never emit placeholders or padding: only text tokens (and </s>) come out.
        suppress_tokens=[ids[IMAGE_TOKEN], ids[PAD_TOKEN], ids[BOS_TOKEN]],
        do_sample=False,
    )
    n_params = sum(p.numel() for p in model.parameters())

    hf_logging.disable_progress_bar()
    try:
        model.save_pretrained(folder)
    finally:
        hf_logging.enable_progress_bar()
    processor.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    (folder / MARKER_FILE).write_text(
        json.dumps(
            {
                "build_version": BUILD_VERSION,
                "seed": SEED,
                "parameters": n_params,
                "image_tokens_per_image": IMAGE_TOKENS_PER_IMAGE,
                "note": "random weights, built by clinhallu_tasks.demo.tiny_model; outputs mean nothing",
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    return n_params


def _make_readable(folder: Path) -> None:
    """mkdtemp and some writers create owner-only entries; a cache should be readable."""
    folder.chmod(0o755)
    for path in folder.iterdir():
        path.chmod(0o755 if path.is_dir() else 0o644)


def build_tiny_llava(target: Path) -> Path:
    """Build (or reuse) a tiny random-weight LLaVA checkpoint at `target`; return its path.

    A complete build of the current version already at `target` is reused as is. An older
    build of ours is replaced. Any other non-empty folder is left alone (FileExistsError).
    The checkpoint is written to a temporary sibling folder and moved into place, so an
    interrupted build never leaves a half-written `target`.
    """
    target = Path(target).expanduser().absolute()
    if _is_complete(target):
        return target
    if target.exists():
        if not target.is_dir():
            raise FileExistsError(f"{target} exists and is not a folder")
        if (target / MARKER_FILE).is_file():
            shutil.rmtree(target)  # an older build of ours
        elif any(target.iterdir()):
            raise FileExistsError(f"{target} is not empty and holds no tiny-model build; choose another folder")
        else:
            target.rmdir()
    target.parent.mkdir(parents=True, exist_ok=True)

    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.building-", dir=target.parent))
    try:
        _build_into(staging)
        _make_readable(staging)
        try:
            os.replace(staging, target)
        except OSError:
            # Another process finished first: use its build if it is complete.
            if not _is_complete(target):
                raise
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return target


def main(argv: list[str] | None = None) -> int:
    """`python -m clinhallu_tasks.demo.tiny_model TARGET`: build (or reuse) and print the path."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m clinhallu_tasks.demo.tiny_model", description=main.__doc__)
    parser.add_argument("target", type=Path, help="folder for the checkpoint")
    args = parser.parse_args(argv)
    print(build_tiny_llava(args.target))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

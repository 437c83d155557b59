"""A tiny random-weight Qwen2-VL checkpoint, built locally, for end-to-end tests.

`build_tiny_qwen2_vl(target)` writes a Hugging Face checkpoint that lmms-eval's `qwen2_vl`
backend loads by path, offline, on CPU:

- `Qwen2VLForConditionalGeneration`: a 2-block vision tower (14x14 patches, 2x2 merge, so
  one image token per 28x28 pixels) and a 2-layer text model with multimodal RoPE, random
  weights, about 200 thousand parameters;
- a byte-level BPE tokenizer trained here by the `tokenizers` library on a small built-in
  corpus (any text encodes and decodes back unchanged; no unknown tokens), with Qwen's
  special tokens (`<|endoftext|>`, `<|im_start|>`, `<|im_end|>`, the vision markers);
- a `Qwen2VLImageProcessor` (and video processor) with small pixel bounds and a
  `Qwen2VLProcessor` carrying Qwen2-VL-Instruct's own chat template, so the backend builds
  exactly the prompt layout it builds for the real model.

The weights are random: the model exercises loading, prompting and image features; what
it writes means nothing. Everything is seeded, so a build is deterministic. Nothing is
downloaded. Run `python -m tests.support.tiny_qwen2_vl TARGET` to build into TARGET.
"""

from __future__ import annotations

import json
from pathlib import Path

SEED = 4321
WEIGHT_STD = 0.2
VOCAB_SIZE = 768
MAX_POSITIONS = 32768

PATCH_SIZE = 14
MERGE_SIZE = 2
TEMPORAL_PATCH_SIZE = 2
# One merged image token per 28x28 pixels: 2x2 to 4x4 tokens per image keeps prompts short.
MIN_PIXELS = (PATCH_SIZE * MERGE_SIZE * 2) ** 2
MAX_PIXELS = (PATCH_SIZE * MERGE_SIZE * 4) ** 2

ENDOFTEXT = "<|endoftext|>"
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
VISION_START = "<|vision_start|>"
VISION_END = "<|vision_end|>"
VISION_PAD = "<|vision_pad|>"
IMAGE_PAD = "<|image_pad|>"
VIDEO_PAD = "<|video_pad|>"
SPECIAL_TOKENS = (ENDOFTEXT, IM_START, IM_END, VISION_START, VISION_END, VISION_PAD, IMAGE_PAD, VIDEO_PAD)

MARKER_FILE = "tiny_qwen2_vl.json"

# Qwen2-VL-7B-Instruct's chat template, verbatim: the prompt layout (system turn, vision
# markers around one <|image_pad|> per image, the assistant header) is the real one.
CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}"
    "{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}"
    "<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

_CORPUS = """\
[Visual Recognition]
[Knowledge Recall]
[Reasoning]
[Answer] yes
[Answer] no
You are a helpful assistant. You are shown a medical image and a question about it.
Question: Is there a pleural effusion? Is the heart enlarged? What organ is shown in this image?
Work through the question in three steps, then give your answer. Write each step under its header.
Describe only what can be seen in the image: the kind of image and view, the anatomy shown.
State the medical knowledge this question depends on, such as definitions and typical features.
Bring what you saw and what you recalled together, step by step, to reach your conclusion.
Frontal chest radiograph. Both lung fields are visible and the heart size is normal.
A dense homogeneous opacity fills the lower part of the left hemithorax with a flat upper border.
A pleural effusion appears as dependent opacity blunting the costophrenic angle.
The dependent dense opacity at the left base matches pleural fluid, so an effusion is present.
The figure shows a computed tomography scan of the abdomen with a lesion in the liver.
The findings are consistent with the diagnosis, and follow-up imaging is recommended.
patient, radiology, pathology, anatomy, lesion, mass, nodule, effusion, fracture, edema,
left, right, upper, lower, lung, heart, liver, kidney, brain, normal, abnormal, present, absent.
"""


def _corpus_lines() -> list[str]:
    lines = [line for line in _CORPUS.splitlines() if line.strip()]
    # Repetition gives the trainer stable pair counts; lowercase copies widen the vocabulary.
    return lines * 4 + [line.lower() for line in lines] * 2


def _train_tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    # Byte level without a prefix space: every string, newlines included, encodes and decodes
    # back to itself, which the tests rely on to compare what the model "wrote" with what arrived.
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
    return tokenizer


def build_tiny_qwen2_vl(target: Path) -> int:
    """Write the whole checkpoint into the folder `target` (created if needed); return its parameter count."""
    import torch
    from transformers import (
        GenerationConfig,
        PreTrainedTokenizerFast,
        Qwen2VLConfig,
        Qwen2VLForConditionalGeneration,
        Qwen2VLImageProcessor,
        Qwen2VLProcessor,
        Qwen2VLVideoProcessor,
    )
    from transformers.utils import logging as hf_logging

    target = Path(target)
    target.mkdir(parents=True, exist_ok=True)

    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=_train_tokenizer(),
        # Qwen2-VL-Instruct's choices: a chat turn ends the answer, <|endoftext|> pads.
        eos_token=IM_END,
        pad_token=ENDOFTEXT,
        additional_special_tokens=[t for t in SPECIAL_TOKENS if t not in (IM_END, ENDOFTEXT)],
        model_max_length=MAX_POSITIONS,
        padding_side="left",
        chat_template=CHAT_TEMPLATE,
    )
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in SPECIAL_TOKENS}

    vision_kwargs = dict(
        patch_size=PATCH_SIZE,
        merge_size=MERGE_SIZE,
        temporal_patch_size=TEMPORAL_PATCH_SIZE,
        min_pixels=MIN_PIXELS,
        max_pixels=MAX_PIXELS,
    )
    processor = Qwen2VLProcessor(
        image_processor=Qwen2VLImageProcessor(**vision_kwargs),
        video_processor=Qwen2VLVideoProcessor(**vision_kwargs),
        tokenizer=tokenizer,
        chat_template=CHAT_TEMPLATE,
    )

    hidden_size, heads = 64, 4
    config = Qwen2VLConfig(
        text_config=dict(
            vocab_size=len(tokenizer),
            hidden_size=hidden_size,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=heads,
            num_key_value_heads=2,
            max_position_embeddings=MAX_POSITIONS,
            # Multimodal RoPE: the sections split head_dim / 2 over (time, height, width).
            rope_parameters={"rope_type": "default", "rope_theta": 1_000_000.0, "mrope_section": [2, 3, 3]},
            bos_token_id=ids[ENDOFTEXT],
            eos_token_id=ids[IM_END],
            pad_token_id=ids[ENDOFTEXT],
        ),
        vision_config=dict(
            depth=2,
            embed_dim=32,
            hidden_size=hidden_size,
            num_heads=2,
            mlp_ratio=2,
            patch_size=PATCH_SIZE,
            spatial_merge_size=MERGE_SIZE,
            temporal_patch_size=TEMPORAL_PATCH_SIZE,
        ),
        image_token_id=ids[IMAGE_PAD],
        video_token_id=ids[VIDEO_PAD],
        vision_start_token_id=ids[VISION_START],
        vision_end_token_id=ids[VISION_END],
        tie_word_embeddings=True,
    )
    assert sum(config.text_config.rope_parameters["mrope_section"]) * 2 == hidden_size // heads

    torch.manual_seed(SEED)
    model = Qwen2VLForConditionalGeneration(config).to(torch.float32).eval()
    # The default init (std 0.02) makes a tiny random model print one token for any input;
    # wider weights make its (still meaningless) output depend on image and text.
    generator = torch.Generator().manual_seed(SEED)
    with torch.no_grad():
        for _, param in sorted(model.named_parameters()):
            if param.dim() >= 2:
                param.normal_(0.0, WEIGHT_STD, generator=generator)
    model.generation_config = GenerationConfig(
        bos_token_id=ids[ENDOFTEXT],
        eos_token_id=ids[IM_END],
        pad_token_id=ids[ENDOFTEXT],
        do_sample=False,
    )
    n_params = sum(p.numel() for p in model.parameters())

    hf_logging.disable_progress_bar()
    try:
        model.save_pretrained(target)
    finally:
        hf_logging.enable_progress_bar()
    processor.save_pretrained(target)
    tokenizer.save_pretrained(target)
    (target / MARKER_FILE).write_text(
        json.dumps({"seed": SEED, "parameters": n_params, "note": "random weights, built by tests/support"}, indent=2)
        + "\n",
        encoding="utf-8",
    )
    return n_params


def main(argv: list[str] | None = None) -> int:
    """`python -m tests.support.tiny_qwen2_vl TARGET`: build into TARGET and print its path."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m tests.support.tiny_qwen2_vl", description=main.__doc__)
    parser.add_argument("target", type=Path, help="folder for the checkpoint")
    args = parser.parse_args(argv)
    build_tiny_qwen2_vl(args.target)
    print(args.target)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

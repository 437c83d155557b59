"""`clinhallu-tasks run` generates with thinking off on the backends that take a switch, as the official pipeline."""

from __future__ import annotations

import pytest

from clinhallu_tasks.runner.command import thinking_off


@pytest.mark.parametrize(("model", "given", "sent"), [
    ("qwen3_5", "pretrained=Qwen/Qwen3.5-9B", "pretrained=Qwen/Qwen3.5-9B,enable_thinking=False"),
    ("qwen3_vl", "", "enable_thinking=False"),
    # The user's choice stands, either way.
    ("qwen3_5", "pretrained=Qwen/Qwen3.5-9B,enable_thinking=True", "pretrained=Qwen/Qwen3.5-9B,enable_thinking=True"),
    ("qwen3_vl", "enable_thinking=False,pretrained=x", "enable_thinking=False,pretrained=x"),
    # API backends get nothing added: an OpenAI endpoint refuses fields it does not know.
    ("openai_compatible", "model_version=gpt-4o", "model_version=gpt-4o"),
    ("vllm", "model=Qwen/Qwen3.5-9B", "model=Qwen/Qwen3.5-9B"),
])
def test_the_thinking_switch_is_off_unless_the_user_set_it(model, given, sent):
    assert thinking_off(model, given) == sent


def test_the_switch_names_match_the_backends_signatures():
    """A renamed argument in lmms-eval would make the switch a silent no-op: read the real signatures."""
    import inspect

    from lmms_eval.models.simple.qwen3_5 import Qwen3_5
    from lmms_eval.models.simple.qwen3_vl import Qwen3_VL

    from clinhallu_tasks.runner.command import THINKING_SWITCH

    for model, cls in (("qwen3_5", Qwen3_5), ("qwen3_vl", Qwen3_VL)):
        assert THINKING_SWITCH[model] in inspect.signature(cls.__init__).parameters

"""Secrets never reach what the run prints or writes."""

from __future__ import annotations

import io
import logging
import sys

from clinhallu_tasks.runner.lmms_driver import masked_output
from clinhallu_tasks.runner.secrets import Masker, MaskingStream, mask_model_args, secret_values

SECRET = "sk-masking-test-0123456789"


def test_model_args_are_masked_structurally():
    assert mask_model_args("model=m,api_key=sk-abcdefgh,hf_token=hf_xyz12345,max_new_tokens=9") == (
        "model=m,api_key=***,hf_token=***,max_new_tokens=9"
    )
    assert mask_model_args("base_url=https://user:pw-123456@host/v1?token=t-123456&mode=x") == (
        "base_url=https://***@host/v1?token=***&mode=x"
    )


def test_every_known_secret_is_masked_in_free_text():
    secrets = secret_values("model=m,api_key=sk-abcdefgh,base_url=https://host/v1?key=q-7654321",
                            {"OPENAI_API_KEY": "sk-from-env-1", "HOME": "/home/someone"})
    masker = Masker(secrets)
    text = masker("sent sk-abcdefgh and q-7654321 and sk-from-env-1 from /home/someone; token=unknown99")
    assert text == "sent *** and *** and *** from /home/someone; token=***"


def test_a_masking_stream_masks_what_is_written():
    sink = io.StringIO()
    MaskingStream(sink, Masker(["sk-abcdefgh"])).write("key sk-abcdefgh\n")
    assert sink.getvalue() == "key ***\n"


def test_prints_python_logging_and_loguru_are_masked_while_the_run_lasts(capfd):
    from loguru import logger as loguru_logger

    handler = logging.StreamHandler(sys.stderr)  # made before the run, as a configured application's is
    logging.getLogger().addHandler(handler)
    early_sink = loguru_logger.add(sys.stderr, format="{message}")  # lmms-eval adds its own at import
    try:
        with masked_output(Masker([SECRET])):
            late_sink = loguru_logger.add(sys.stdout, format="{message}")
            print(f"print {SECRET}")
            logging.getLogger("clinhallu_tasks").warning("logging %s", SECRET)
            loguru_logger.warning(f"loguru {SECRET}")
            loguru_logger.remove(late_sink)
    finally:
        loguru_logger.remove(early_sink)
        logging.getLogger().removeHandler(handler)
    captured = capfd.readouterr()
    output = captured.out + captured.err
    assert "print ***" in output and "logging ***" in output and "loguru ***" in output
    assert SECRET not in output

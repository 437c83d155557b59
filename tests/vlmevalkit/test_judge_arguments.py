"""VLMEvalKit's judge arguments become our judge settings; the judge key never reaches VLMEvalKit."""

from __future__ import annotations

import json

import pytest

from clinhallu_tasks.errors import SettingsError
from clinhallu_tasks.vlmevalkit.judge import judge_environment, withhold_judge_key

RUN_LOOP = {"nproc": 4, "verbose": False, "retry": 6, "timeout": 600}


def test_judge_arguments_override_the_variables():
    environ = {"CLINHALLU_JUDGE_MODEL": "env-judge", "CLINHALLU_JUDGE_BASE_URL": "http://env:1/v1", "OTHER": "x"}
    kwargs = {**RUN_LOOP, "model": "cli-judge", "api_base": "http://cli:2/v1/chat/completions", "key": "k"}
    merged = judge_environment(kwargs, environ)
    assert merged["CLINHALLU_JUDGE_MODEL"] == "cli-judge"
    assert merged["CLINHALLU_JUDGE_BASE_URL"] == "http://cli:2/v1/chat/completions"  # the config strips the path
    assert merged["CLINHALLU_JUDGE_API_KEY"] == "k" and merged["OTHER"] == "x"


def test_run_loop_defaults_leave_our_retry_and_concurrency_settings_alone():
    merged = judge_environment(RUN_LOOP, {"CLINHALLU_JUDGE_MAX_RETRIES": "2"})
    assert merged == {"CLINHALLU_JUDGE_MAX_RETRIES": "2"}


def test_judge_args_fields_with_our_meaning_are_taken():
    merged = judge_environment({"temperature": 0.0, "extra_body": {"top_k": 1}}, {})
    assert merged == {"CLINHALLU_JUDGE_TEMPERATURE": "0.0", "CLINHALLU_JUDGE_EXTRA_BODY": '{"top_k": 1}'}


def test_a_judge_model_without_an_endpoint_is_a_clear_error():
    with pytest.raises(SettingsError, match="--judge-base-url"):
        judge_environment({**RUN_LOOP, "model": "gpt-4o-mini"}, {})


def test_the_key_option_is_taken_out():
    argv, key = withhold_judge_key(["--data", "X", "--judge-key", "sk-1", "--judge", "j"])
    assert (argv, key) == (["--data", "X", "--judge", "j"], "sk-1")
    argv, key = withhold_judge_key(["--judge-key=sk-2", "--mode", "eval"])
    assert (argv, key) == (["--mode", "eval"], "sk-2")


def test_the_key_inside_judge_args_is_taken_out_and_the_rest_kept():
    argv, key = withhold_judge_key(["--judge-args", json.dumps({"api_base": "http://h/v1", "key": "sk-3"})])
    assert key == "sk-3" and argv[0] == "--judge-args" and json.loads(argv[1]) == {"api_base": "http://h/v1"}


def test_arguments_without_a_key_pass_unchanged():
    argv = ["--data", "X", "--judge-args", "{not json", "--key", "model-key"]
    assert withhold_judge_key(argv) == (argv, None)

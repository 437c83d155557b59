"""JudgeConfig.from_env: defaults, validation, cache location, and the key kept out of sight."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from clinhallu_tasks.judging import JudgeConfig, JudgeConfigError, resolve_cache_path

KEY = "sk-config-SECRET-777"
BASE = {"CLINHALLU_JUDGE_BASE_URL": "http://127.0.0.1:8000/v1", "CLINHALLU_JUDGE_MODEL": "judge-m"}


def test_unset_means_no_judge():
    assert JudgeConfig.from_env({}) is None


@pytest.mark.parametrize("only", ["CLINHALLU_JUDGE_BASE_URL", "CLINHALLU_JUDGE_MODEL"])
def test_half_configured_is_no_judge_with_a_warning(only, caplog):
    with caplog.at_level(logging.WARNING):
        assert JudgeConfig.from_env({only: BASE[only]}) is None
    assert "judging is disabled" in caplog.text


def test_blank_values_count_as_unset():
    assert JudgeConfig.from_env({"CLINHALLU_JUDGE_BASE_URL": "  ", "CLINHALLU_JUDGE_MODEL": "m"}) is None


def test_defaults(tmp_path):
    config = JudgeConfig.from_env({**BASE, "XDG_CACHE_HOME": str(tmp_path)})
    assert config is not None
    assert config.base_url == "http://127.0.0.1:8000/v1"
    assert config.chat_completions_url == "http://127.0.0.1:8000/v1/chat/completions"
    assert config.model == "judge-m"
    assert config.api_key is None
    assert config.concurrency == 32
    assert config.max_retries == 5
    assert config.temperature == 0.01
    assert config.max_tokens == 2048
    assert config.timeout == 180.0
    assert config.format_retries == 2
    assert config.retry_backoff == 1.0
    assert dict(config.extra_body) == {}
    assert config.cache_path == tmp_path / "clinhallu-tasks" / "judge_cache.sqlite3"


def test_default_cache_without_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    config = JudgeConfig.from_env(dict(BASE))
    assert config is not None
    assert config.cache_path == tmp_path / ".cache" / "clinhallu-tasks" / "judge_cache.sqlite3"


def test_all_variables(tmp_path):
    env = {
        **BASE,
        "CLINHALLU_JUDGE_BASE_URL": "https://judge.example.org/v1/chat/completions/",
        "CLINHALLU_JUDGE_API_KEY": KEY,
        "CLINHALLU_JUDGE_CACHE": str(tmp_path / "verdicts.db"),
        "CLINHALLU_JUDGE_CONCURRENCY": "8",
        "CLINHALLU_JUDGE_TIMEOUT": "12.5",
        "CLINHALLU_JUDGE_MAX_RETRIES": "0",
        "CLINHALLU_JUDGE_FORMAT_RETRIES": "4",
        "CLINHALLU_JUDGE_RETRY_BACKOFF": "0.5",
        "CLINHALLU_JUDGE_TEMPERATURE": "0",
        "CLINHALLU_JUDGE_MAX_TOKENS": "256",
        "CLINHALLU_JUDGE_EXTRA_BODY": '{"chat_template_kwargs": {"enable_thinking": false}}',
    }
    config = JudgeConfig.from_env(env)
    assert config is not None
    assert config.base_url == "https://judge.example.org/v1"  # a pasted endpoint path is trimmed
    assert config.api_key == KEY
    assert config.cache_path == tmp_path / "verdicts.db"
    assert (config.concurrency, config.timeout, config.max_retries) == (8, 12.5, 0)
    assert (config.format_retries, config.retry_backoff) == (4, 0.5)
    assert (config.temperature, config.max_tokens) == (0.0, 256)
    assert dict(config.extra_body) == {"chat_template_kwargs": {"enable_thinking": False}}
    assert config.decoding() == {
        "temperature": 0.0, "max_tokens": 256,
        "extra_body": {"chat_template_kwargs": {"enable_thinking": False}},
    }


def test_cache_folder_or_file(tmp_path):
    folder = tmp_path / "existing"
    folder.mkdir()
    assert resolve_cache_path(str(folder)) == folder / "judge_cache.sqlite3"
    assert resolve_cache_path(str(tmp_path / "new-folder")) == tmp_path / "new-folder" / "judge_cache.sqlite3"
    assert resolve_cache_path(str(tmp_path / "mine.sqlite")) == tmp_path / "mine.sqlite"
    existing = tmp_path / "owned-file"
    existing.write_bytes(b"")
    assert resolve_cache_path(str(existing)) == existing


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("CLINHALLU_JUDGE_CONCURRENCY", "0"),
        ("CLINHALLU_JUDGE_CONCURRENCY", "many"),
        ("CLINHALLU_JUDGE_CONCURRENCY", "2.5"),
        ("CLINHALLU_JUDGE_TIMEOUT", "0"),
        ("CLINHALLU_JUDGE_TIMEOUT", "nan"),
        ("CLINHALLU_JUDGE_TIMEOUT", "inf"),
        ("CLINHALLU_JUDGE_MAX_RETRIES", "-1"),
        ("CLINHALLU_JUDGE_FORMAT_RETRIES", "x"),
        ("CLINHALLU_JUDGE_RETRY_BACKOFF", "-0.1"),
        ("CLINHALLU_JUDGE_TEMPERATURE", "hot"),
        ("CLINHALLU_JUDGE_TEMPERATURE", "-1"),
        ("CLINHALLU_JUDGE_MAX_TOKENS", "0"),
        ("CLINHALLU_JUDGE_EXTRA_BODY", "{not json"),
        ("CLINHALLU_JUDGE_EXTRA_BODY", "[1, 2]"),
        ("CLINHALLU_JUDGE_EXTRA_BODY", '{"temperature": 1}'),
        ("CLINHALLU_JUDGE_BASE_URL", "localhost:8000/v1"),
        ("CLINHALLU_JUDGE_BASE_URL", "ftp://host/v1"),
        ("CLINHALLU_JUDGE_BASE_URL", "http://user:pw@host/v1"),
    ],
)
def test_bad_values_name_the_variable_and_never_the_key(variable, value):
    with pytest.raises(JudgeConfigError) as error:
        JudgeConfig.from_env({**BASE, "CLINHALLU_JUDGE_API_KEY": KEY, variable: value})
    assert variable in str(error.value)
    assert KEY not in str(error.value)


def test_key_is_not_in_repr_str_or_provenance(tmp_path):
    config = JudgeConfig(base_url="http://127.0.0.1:1/v1", model="m", api_key=KEY, cache_path=tmp_path / "c.db")
    assert KEY not in repr(config)
    assert KEY not in str(config)
    provenance = config.provenance()
    assert KEY not in str(provenance)
    assert provenance["api_key_set"] is True
    assert provenance["model"] == "m"


def test_config_is_frozen_and_hashable(tmp_path):
    config = JudgeConfig(base_url="http://127.0.0.1:1/v1", model="m", cache_path=tmp_path / "c.db")
    with pytest.raises(AttributeError):
        config.model = "other"  # type: ignore[misc]
    hash(config)
    assert isinstance(config.cache_path, Path)

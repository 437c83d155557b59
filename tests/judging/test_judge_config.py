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
    assert config.max_tokens == 4096
    assert config.top_p == 0.9
    assert (config.thinking, config.structured_output) == ("auto", "auto")
    assert config.price_input is None and config.price_output is None
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
        "temperature": 0.0, "top_p": 0.9, "max_tokens": 256,
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
        ("CLINHALLU_JUDGE_BASE_URL", "http://a:8000/v1, ftp://b/v1"),
        ("CLINHALLU_JUDGE_BASE_URL", "http://a:8000/v1 http://a:8000/v1/"),
        ("CLINHALLU_JUDGE_BASE_URL", "http://host:port/v1"),
        ("CLINHALLU_JUDGE_TOP_P", "1.5"),
        ("CLINHALLU_JUDGE_TOP_P", "0"),
        ("CLINHALLU_JUDGE_THINKING", "maybe"),
        ("CLINHALLU_JUDGE_STRUCTURED_OUTPUT", "yes"),
        ("CLINHALLU_JUDGE_PRICE_INPUT", "-1"),
        ("CLINHALLU_JUDGE_PRICE_OUTPUT", "cheap"),
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


def test_several_replicas_in_one_variable():
    config = JudgeConfig.from_env({**BASE, "CLINHALLU_JUDGE_BASE_URL": " http://a:8000/v1/,http://b:8000/v1\n"
                                   "http://c:8000/v1/chat/completions"})
    assert config is not None
    assert config.base_urls == ("http://a:8000/v1", "http://b:8000/v1", "http://c:8000/v1")
    assert config.chat_completions_url.split(",")[1] == "http://b:8000/v1/chat/completions"


def test_new_settings_are_read():
    config = JudgeConfig.from_env({**BASE, "CLINHALLU_JUDGE_TOP_P": "0.5", "CLINHALLU_JUDGE_THINKING": "OMIT",
                                   "CLINHALLU_JUDGE_STRUCTURED_OUTPUT": "off", "CLINHALLU_JUDGE_PRICE_INPUT": "0.2",
                                   "CLINHALLU_JUDGE_PRICE_OUTPUT": "1.5"})
    assert config is not None
    assert (config.top_p, config.thinking, config.structured_output) == (0.5, "omit", "off")
    assert (config.price_input, config.price_output) == (0.2, 1.5)


def test_bad_extra_body_says_where_without_echoing_the_value():
    with pytest.raises(JudgeConfigError) as error:
        JudgeConfig.from_env({**BASE, "CLINHALLU_JUDGE_EXTRA_BODY": '{"token": "' + KEY + '", bad'})
    assert "CLINHALLU_JUDGE_EXTRA_BODY" in str(error.value) and "column" in str(error.value)
    assert KEY not in str(error.value)

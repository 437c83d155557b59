"""scripts/install_wordnet.sh: WordNet 3.0 for NLTK from Debian's packages, offline."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.medhalltune.conftest import REPO

SCRIPT = REPO / "scripts" / "install_wordnet.sh"
DEBIAN_WORDNET = Path("/usr/share/wordnet")


@pytest.fixture(scope="module")
def source() -> Path:
    if not (DEBIAN_WORDNET / "data.noun").is_file() or not (DEBIAN_WORDNET / "index.sense").is_file():
        pytest.skip("Debian's wordnet-base and wordnet-sense-index are not installed")
    return DEBIAN_WORDNET


def run(target: Path, src: Path) -> subprocess.CompletedProcess:
    # WORDNET_SRC named explicitly: the script then never tries apt-get.
    env = {**os.environ, "WORDNET_SRC": str(src)}
    return subprocess.run(["bash", str(SCRIPT), str(target)], capture_output=True, text=True, env=env, timeout=120)


def test_installs_a_copy_nltk_reads(tmp_path, source):
    target = tmp_path / "nltk_data"
    first = run(target, source)
    assert first.returncode == 0, first.stderr
    corpus = target / "corpora" / "wordnet"
    for name in ("data.noun", "index.verb", "index.sense", "adj.exc", "cntlist.rev", "lexnames"):
        path = corpus / name
        assert path.is_file() and not path.is_symlink(), name
    lexnames = (corpus / "lexnames").read_text().splitlines()
    assert len(lexnames) == 45
    assert lexnames[0] == "00\tadj.all\t3" and lexnames[3] == "03\tnoun.Tops\t1"
    assert lexnames[29] == "29\tverb.body\t2" and lexnames[44] == "44\tadj.ppl\t3"
    assert not list((target / "corpora").glob(".wordnet*"))  # no temporary folder left behind

    check = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(
            f"""
            import nltk
            nltk.data.path[:] = [{str(target)!r}]
            from nltk.corpus import wordnet as wn
            from nltk.translate.meteor_score import single_meteor_score
            ref = "It is a guide to action that ensures that the military will forever heed Party commands"
            hyp = "It is a guide to action which ensures that the military always obeys the commands of the party"
            score = round(single_meteor_score(ref.split(), hyp.split()), 4)
            print(wn.get_version(), wn.synset("dog.n.01").lexname(), score)
            """
        )],
        capture_output=True, text=True, timeout=300,
    )
    assert check.returncode == 0, check.stderr
    assert check.stdout.split() == ["3.0", "noun.animal", "0.6944"]


def test_is_idempotent_and_repairs_a_damaged_copy(tmp_path, source):
    target = tmp_path / "nltk_data"
    assert run(target, source).returncode == 0
    noun = target / "corpora" / "wordnet" / "data.noun"
    stamp = noun.stat().st_mtime_ns
    again = run(target, source)
    assert again.returncode == 0 and "up to date" in again.stdout
    assert noun.stat().st_mtime_ns == stamp

    (target / "corpora" / "wordnet" / "index.adv").write_text("damaged")
    repaired = run(target, source)
    assert repaired.returncode == 0 and "installed" in repaired.stdout
    assert (target / "corpora" / "wordnet" / "index.adv").read_bytes() == (source / "index.adv").read_bytes()


def test_missing_source_says_how_to_get_it(tmp_path):
    result = run(tmp_path / "nltk_data", tmp_path / "empty")
    assert result.returncode == 1
    assert "wordnet-base wordnet-sense-index" in result.stderr and "nltk.downloader" in result.stderr
    assert not (tmp_path / "nltk_data" / "corpora" / "wordnet").exists()


def test_needs_exactly_one_argument():
    result = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True)
    assert result.returncode == 2 and "usage" in result.stderr

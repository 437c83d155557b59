"""VerdictCache: keys, batch lookups, and one file shared by threads and processes."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading

from clinhallu_tasks.judging import VerdictCache, file_sha256, request_key

DECODING = {"temperature": 0.01, "top_p": 0.9, "max_tokens": 10, "extra_body": {}}


def test_key_depends_on_model_messages_and_decoding():
    messages = [{"role": "user", "content": "q"}]
    base = request_key("m", messages, DECODING)
    assert base == request_key("m", [{"role": "user", "content": "q"}], dict(DECODING))
    assert base != request_key("m2", messages, DECODING)
    assert base != request_key("m", [{"role": "user", "content": "q2"}], DECODING)
    assert base != request_key("m", [{"role": "system", "content": "q"}], DECODING)
    assert base != request_key("m", messages, {**DECODING, "temperature": 0.02})
    # A string and the equivalent single text part are different requests on the wire.
    assert base != request_key("m", [{"role": "user", "content": [{"type": "text", "text": "q"}]}], DECODING)


def test_file_hash_is_memoised_but_follows_edits(tmp_path):
    path = tmp_path / "img.png"
    path.write_bytes(b"one")
    first = file_sha256(path)
    assert file_sha256(str(path)) == first
    path.write_bytes(b"two!")  # different size: hashed again even within the same mtime tick
    assert file_sha256(path) != first


def test_batch_lookup_beyond_sqlite_parameter_limits(tmp_path):
    with VerdictCache(tmp_path / "c.sqlite3") as cache:
        cache.put_many(((f"k{i}", f"r{i}") for i in range(2500)), model="m")
        found = cache.get_many([f"k{i}" for i in range(0, 3000)])
        assert len(found) == 2500 and found["k2499"] == "r2499"
        assert len(cache) == 2500
        cache.delete("k0")
        assert cache.get("k0") is None


def test_wal_mode_and_persistence(tmp_path):
    path = tmp_path / "sub" / "c.sqlite3"
    with VerdictCache(path) as cache:
        cache.put("a", "reply", model="m", label="x")
        assert cache._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with VerdictCache(path) as again:
        assert again.get("a") == "reply"


def test_threads_share_one_cache(tmp_path):
    cache = VerdictCache(tmp_path / "c.sqlite3")

    def work(t: int) -> None:
        for i in range(100):
            cache.put(f"{t}-{i}", "r", model="m")
            cache.get_many([f"{t}-{j}" for j in range(i + 1)])

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(cache) == 800
    cache.close()


def test_processes_share_one_cache(tmp_path):
    path = tmp_path / "shared.sqlite3"
    script = textwrap.dedent(
        """
        import sys
        from clinhallu_tasks.judging import VerdictCache
        rank = int(sys.argv[2])
        with VerdictCache(sys.argv[1]) as cache:
            for i in range(150):
                cache.put(f"{rank}-{i}", "r", model="m")
                assert cache.get(f"{rank}-{i}") == "r"
        """
    )
    workers = [
        subprocess.Popen([sys.executable, "-c", script, str(path), str(rank)], stderr=subprocess.PIPE)
        for rank in range(4)
    ]
    errors = [w.communicate(timeout=60)[1].decode() for w in workers]
    assert all(w.returncode == 0 for w in workers), errors
    with VerdictCache(path) as cache:
        assert len(cache) == 600


def test_token_counts_are_stored_with_the_reply(tmp_path):
    with VerdictCache(tmp_path / "c.sqlite3") as cache:
        cache.put("a", "reply", model="m", prompt_tokens=120, completion_tokens=7)
        cache.put("b", "reply", model="m")  # an endpoint that reports no usage
        entries = cache.get_entries(["a", "b"])
    assert (entries["a"].prompt_tokens, entries["a"].completion_tokens) == (120, 7)
    assert entries["b"].prompt_tokens is None and entries["b"].reply == "reply"


def test_a_cache_file_from_before_token_counts_is_upgraded_in_place(tmp_path):
    import sqlite3

    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE verdicts (key TEXT PRIMARY KEY, model TEXT NOT NULL, reply TEXT NOT NULL,"
                     " label TEXT, created REAL NOT NULL)")
        conn.execute("INSERT INTO verdicts VALUES ('old', 'm', 'kept', NULL, 0)")
    conn.close()
    with VerdictCache(path) as cache:
        cache.put("new", "r", model="m", prompt_tokens=1, completion_tokens=2)
        assert cache.get("old") == "kept" and cache.get_entries(["new"])["new"].completion_tokens == 2

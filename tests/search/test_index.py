import sqlite3

import keras
import numpy as np
import pytest
from PIL import Image
from tiny_lines import TEXTS, TINY_CRNN, render_line

from keras_htr.charset import Charset
from keras_htr.models import build_model
from keras_htr.search import IndexFileError, KeywordIndex, build_index
from keras_htr.search.index import decode_posteriors, encode_posteriors
from keras_htr.search.relevance import relevance, separator_ids, word_classes
from keras_htr.transcriber import Transcriber


@pytest.fixture(scope="module")
def transcriber():
    keras.utils.set_random_seed(0)
    return Transcriber(build_model(TINY_CRNN, Charset.from_texts(TEXTS)))


@pytest.fixture(scope="module")
def indexed(transcriber, tmp_path_factory):
    folder = tmp_path_factory.mktemp("lines")
    paths = []
    for i, text in enumerate(TEXTS):
        Image.fromarray(render_line(text)).save(folder / f"line{i}.png")
        paths.append(str(folder / f"line{i}.png"))
    (folder / "broken.png").write_bytes(b"not a png")
    out = folder / "index.sqlite"
    stats = build_index(transcriber, paths + [str(folder / "broken.png")], out, min_probability=0.0)
    return out, paths, stats


def exact(transcriber, paths, word, case_sensitive=False):
    """Relevance of `word` in each line, on the model's full posteriors."""
    found = transcriber.posteriors(paths)
    classes = word_classes(word, transcriber.charset, case_sensitive)
    return {
        source: relevance(np.exp(x)[None], [len(x)], [classes], separator_ids(transcriber.charset))[0, 0]
        for x, source, _ in found
    }


def test_postings_are_the_relevance_of_each_proposed_word(transcriber, indexed):
    out, paths, stats = indexed
    assert stats.lines == len(TEXTS) and len(stats.failed) == 1 and "broken.png" in stats.failed[0]
    db = sqlite3.connect(out)
    rows = db.execute("SELECT word, path, probability FROM postings JOIN lines ON id = line").fetchall()
    assert rows, "the N best readings propose some words"
    for word in {w for w, _, _ in rows}:
        want = exact(transcriber, paths, word)
        for w, path, p in rows:
            if w == word:
                assert p == pytest.approx(want[path], abs=1e-5)
    plans = " ".join(r[-1] for r in db.execute("EXPLAIN QUERY PLAN SELECT * FROM postings WHERE word = 'a'"))
    assert "postings_word" in plans


def test_search_ranks_lines_and_ignores_case(transcriber, indexed):
    out, paths, _ = indexed
    with KeywordIndex(out) as index:
        word = sqlite3.connect(out).execute("SELECT word FROM postings LIMIT 1").fetchone()[0]
        hits = index.search(word)
        assert [h.probability for h in hits] == sorted((h.probability for h in hits), reverse=True)
        assert {h.path for h in hits} <= set(paths)
        assert [(h.path, h.probability) for h in index.search(word.upper())] == [
            (h.path, h.probability) for h in hits
        ]
        best = hits[0].probability
        assert all(h.probability >= best for h in index.search(word, min_probability=best))
        assert len(index.search(word, limit=1)) == 1


def test_words_never_proposed_are_scored_on_the_stored_posteriors(transcriber, indexed):
    out, paths, _ = indexed
    db = sqlite3.connect(out)
    proposed = {w for (w,) in db.execute("SELECT DISTINCT word FROM postings")}
    word = next(w for w in ("cab", "abc", "cc", "acb", "cca") if w not in proposed)
    want = exact(transcriber, paths, word)
    with KeywordIndex(out) as index:
        hits = index.search(word)
    assert hits and all(h.position == -1 for h in hits)
    for h in hits:  # sparse float16 posteriors: close to the exact value
        assert h.probability == pytest.approx(want[h.path], abs=0.02)
    # the bound that skips lines never skips one the word may well be in
    assert {path for path, p in want.items() if p >= 0.05} <= {h.path for h in hits}


def test_bad_queries_and_bad_indexes(indexed, tmp_path):
    out, _, _ = indexed
    with KeywordIndex(out) as index:
        with pytest.raises(ValueError, match="empty query"):
            index.search("  ")
        with pytest.raises(ValueError, match="outside"):
            index.search("abz")
        with pytest.raises(ValueError, match="one word"):
            index.search("ab ba")
        with pytest.raises(ValueError, match="argument `min_probability`"):
            index.search("ab", min_probability=2)
    with pytest.raises(FileNotFoundError, match="No index file"):
        KeywordIndex(tmp_path / "absent.sqlite")
    (tmp_path / "garbage.sqlite").write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(IndexFileError, match="garbage.sqlite: not a keras-htr keyword index"):
        KeywordIndex(tmp_path / "garbage.sqlite")
    sqlite3.connect(tmp_path / "other.sqlite").execute("CREATE TABLE t (x)")
    with pytest.raises(IndexFileError, match="not a keras-htr keyword index"):
        KeywordIndex(tmp_path / "other.sqlite")


def test_index_writer_checks_its_arguments(tmp_path):
    from keras_htr.search import IndexWriter

    for kwargs, name in [({"top_paths": 0}, "top_paths"), ({"min_probability": 1.0}, "min_probability")]:
        with pytest.raises(ValueError, match=f"argument `{name}`"):
            IndexWriter(tmp_path / "x.sqlite", Charset("ab "), **kwargs)


def test_sparse_posteriors_round_trip():
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.full(6, 0.1), size=30)
    blob, mass = encode_posteriors(np.log(probs))
    dense = decode_posteriors(blob, 6)
    assert dense.shape == (30, 7)
    np.testing.assert_allclose(dense.sum(1), 1.0, atol=1e-3)  # float16 rounding
    big = probs >= 0.01
    np.testing.assert_allclose(dense[:, :6][big], probs[big], rtol=2e-3)
    np.testing.assert_allclose(mass, probs.sum(0), rtol=2e-3)  # float16


def test_posteriors_are_log_softmax_per_line_with_errors_in_place(transcriber):
    found = transcriber.posteriors([render_line("ab"), b"junk", render_line("abc ab")])
    (a, _, ea), (none, _, error), (c, _, ec) = found
    assert ea is None and ec is None and none is None and "<bytes 1>" in error
    np.testing.assert_allclose(np.exp(a).sum(-1), 1.0, rtol=1e-5)
    assert a.shape[1] == transcriber.charset.num_classes and len(c) > len(a)


def test_merged_columns_sum_the_classes_they_hold():
    rng = np.random.default_rng(1)
    probs = rng.dirichlet(np.full(6, 0.3), size=20)
    blob, _ = encode_posteriors(np.log(probs))
    columns = np.array([0, 1, 1, 2, 3, 3])  # classes 1+2 and 4+5 (and what was left out) merge
    merged = decode_posteriors(blob, 6, columns)
    full = decode_posteriors(blob, 6)
    assert merged.shape == (20, 4)
    np.testing.assert_allclose(merged[:, 1], full[:, 1] + full[:, 2], atol=1e-6)
    np.testing.assert_allclose(merged[:, 3], full[:, 4] + full[:, 5] + full[:, 6], atol=1e-6)
    np.testing.assert_allclose(merged.sum(1), full.sum(1), atol=1e-6)

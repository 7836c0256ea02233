import gzip

import pytest

from keras_htr.decoders.ngram import (
    LMFileError,
    build_lm,
    estimate_arpa,
    read_header,
    tokenize,
    write_lm,
)

CORPUS = ["the cat sat", "the hat", "a cat and a hat", "that cat", "the mat sat"] * 2 + ["tea"]


def parse_arpa(text):
    """{order: {ngram tuple: (log10 p, log10 backoff)}} from ARPA text."""
    table, order = {}, None
    for line in text.splitlines():
        line = line.strip()
        if line.endswith("-grams:"):
            order = int(line[1])
            table[order] = {}
        elif line and order and not line.startswith("\\"):
            parts = line.split("\t")
            table[order][tuple(parts[1].split(" "))] = (
                float(parts[0]), float(parts[2]) if len(parts) > 2 else 0.0,
            )
    return table


def prob(table, context, word):
    """P(word | context) by ARPA backoff, as KenLM computes it."""
    context = tuple(context)[-(len(table) - 1):]
    gram = context + (word,)
    if gram in table.get(len(gram), {}):
        return 10 ** table[len(gram)][gram][0]
    if not context:
        return 10 ** table[1][("<unk>",)][0]
    backoff = table[len(context)].get(context, (0.0, 0.0))[1]
    return 10 ** backoff * prob(table, context[1:], word)


@pytest.mark.parametrize("unit,order", [("char", 4), ("word", 3)])
def test_every_context_is_a_distribution(unit, order):
    table = parse_arpa(estimate_arpa(CORPUS, order=order, unit=unit, prune=0))
    vocab = [w for (w,) in table[1] if w != "<s>"]
    contexts = [("<s>",), ("t", "h"), ("<sp>", "c", "a"), ("z",)] if unit == "char" else [
        ("<s>",), ("the",), ("a", "cat"), ("dog",)
    ]
    for context in contexts:
        total = sum(prob(table, context, w) for w in vocab)
        assert total == pytest.approx(1.0, abs=1e-4), context


def test_seen_continuations_beat_unseen_ones():
    table = parse_arpa(estimate_arpa(CORPUS, order=3, unit="char", prune=0))
    # "ca" is always followed by "t" in the corpus; "cz" never occurs
    assert prob(table, ("c", "a"), "t") > 0.5
    assert prob(table, ("c", "a"), "h") < 0.1


def test_prune_shrinks_and_arguments_are_checked():
    full = estimate_arpa(CORPUS, order=5, prune=0)
    pruned = estimate_arpa(CORPUS, order=5, prune=1)
    assert len(pruned) < len(full)
    table = parse_arpa(estimate_arpa(CORPUS, order=5, prune=2))
    for n in range(2, 6):  # what KenLM needs: every n-gram's context and backoff suffix
        for gram in table[n]:
            assert gram[:-1] in table[n - 1] and gram[1:] in table[n - 1], gram
    vocab = [w for (w,) in table[1] if w != "<s>"]
    for context in [("<s>", "t", "h"), ("c", "a"), ("<sp>", "t")]:
        assert sum(prob(table, context, w) for w in vocab) == pytest.approx(1.0, abs=1e-4)
    assert tokenize("a  b", "char") == ["a", "<sp>", "b"]
    for kwargs, name in [({"order": 1}, "order"), ({"order": 7}, "order"), ({"unit": "byte"}, "unit"),
                         ({"prune": -1}, "prune")]:
        with pytest.raises(ValueError, match=f"argument `{name}`"):
            estimate_arpa(CORPUS, **kwargs)
    with pytest.raises(ValueError, match="some text"):
        estimate_arpa(["", "  "])


def test_files_round_trip_and_bad_files_are_named(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(CORPUS), encoding="utf-8")
    path = build_lm(corpus, tmp_path / "lm.arpa.gz", order=3)
    with gzip.open(path, "rt") as f:
        assert f.readline().strip() == "\\data\\"
    header = read_header(path)
    assert header["order"] == 3 and header["unit"] == "char" and "<sp>" in header["vocabulary"]
    words = read_header(write_lm(estimate_arpa(["the end.", "the (end)"] * 2, 2, "word"), tmp_path / "w.arpa"))
    assert words["unit"] == "word"
    # punctuation marks are words of their own, so "end." and "end" are one word to the model
    assert set(words["vocabulary"]) == {"<unk>", "<s>", "</s>", "the", "end", ".", "(", ")"}
    assert words["unigrams"]["end"] > words["unigrams"]["("]  # log10, Kneser-Ney continuation

    (tmp_path / "notes.txt").write_text("hello\nworld\n")
    (tmp_path / "cut.arpa").write_text("\\data\\\nngram 1=5\n\n\\1-grams:\n-1\ta\n")
    (tmp_path / "binary.bin").write_bytes(bytes(range(256)))
    for name, message in [("notes.txt", "first line"), ("cut.arpa", "cut short"), ("binary.bin", "not an ARPA")]:
        with pytest.raises(LMFileError, match=message) as info:
            read_header(tmp_path / name)
        assert name in str(info.value)
    with pytest.raises(FileNotFoundError):
        read_header(tmp_path / "absent.arpa")
    with pytest.raises(FileNotFoundError):
        build_lm(tmp_path / "absent.txt", tmp_path / "x.arpa")

import pytest

from keras_htr.metrics import ErrorCounts, cer, wer


def test_cer_is_total_edits_over_total_reference_characters():
    refs = ["abcd", "ef", "ghijklmnop"]
    hyps = ["abd", "", "ghijklmnop"]
    # 1 + 2 + 0 edits over 4 + 2 + 10 characters (not the mean of per-line rates).
    assert cer(refs, hyps) == pytest.approx(3 / 16)


def test_wer_counts_word_edits():
    assert wer(["the cat sat", "on a mat"], ["the bat sat", "on mat"]) == pytest.approx(2 / 6)


def test_perfect_and_empty_references():
    assert cer(["abc"], ["abc"]) == 0.0
    counts = ErrorCounts()
    counts.update("", "")
    assert counts.cer == 0.0 and counts.lines == 1
    counts.update("", "xy")
    assert counts.cer == 2.0


def test_unicode_normal_forms_are_equal():
    assert cer(["caf\u00e9"], ["cafe\u0301"]) == 0.0


def test_mismatched_lengths_rejected():
    with pytest.raises(ValueError, match="hypotheses"):
        cer(["a", "b"], ["a"])

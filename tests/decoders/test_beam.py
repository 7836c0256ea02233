import numpy as np
import pytest

from keras_htr.decoders.beam import beam_decode
from keras_htr.decoders.greedy import greedy_decode


def test_beam_agrees_with_greedy_on_confident_output():
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 5, size=(3, 12))
    logits = np.where(np.eye(5, dtype=bool)[frames], 8.0, 0.0).astype("float32")
    lengths = np.array([12, 7, 1], "int32")
    g_ids, _ = greedy_decode(logits, lengths)
    b_ids, b_scores = beam_decode(logits, lengths, beam_width=4)
    assert b_ids.numpy().tolist() == g_ids.numpy().tolist()
    assert np.all((b_scores.numpy() > 0) & (b_scores.numpy() <= 1))


def test_beam_finds_label_whose_paths_add_up():
    # Greedy picks blank-blank (p=0.36) but "1" has 0.4*0.4 + 0.4*0.6 + 0.6*0.4 = 0.64.
    p = np.array([[[0.6, 0.4], [0.6, 0.4]]], "float32")
    g_ids, _ = greedy_decode(np.log(p), [2])
    b_ids, _ = beam_decode(np.log(p), [2], beam_width=4)
    assert g_ids.numpy().tolist() == [[-1, -1]]
    assert b_ids.numpy().tolist() == [[1, -1]]


def test_rejects_bad_beam_width():
    with pytest.raises(ValueError, match="beam_width"):
        beam_decode(np.zeros((1, 2, 3), "float32"), [2], beam_width=0)

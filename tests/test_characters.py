"""Per-character confidences and x-positions: CTC alignment, mapping to pixels, results, JSONL."""

import itertools
import json

import numpy as np
import pytest
import tensorflow as tf

from keras_htr.charset import Charset
from keras_htr.data.preprocess import PreprocessConfig
from keras_htr.decoders.alignment import forced_alignment
from keras_htr.results import Character, Transcription
from keras_htr.transcriber import Transcriber


def _collapse(path):
    out, previous = [], None
    for k in path:
        if k != 0 and k != previous:
            out.append(k)
        previous = k
    return out


@pytest.mark.parametrize("ids", [[1, 2], [1, 1], [2], [2, 1, 2]])
def test_forced_alignment_is_the_best_path_spelling_the_text(ids):
    rng = np.random.default_rng(len(ids) * 7 + ids[0])
    logits = rng.normal(0, 2, (7, 3))
    log_probs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    best = max(
        (p for p in itertools.product(range(3), repeat=7) if _collapse(p) == ids),
        key=lambda p: sum(log_probs[t, k] for t, k in enumerate(p)),
    )
    first, last, confidence = forced_alignment(log_probs, ids)
    # Each label's frames in the brute-force best path: the runs of non-blank frames, in order.
    runs, previous = [], 0
    for t, k in enumerate(best):
        if k != 0 and k == previous:
            runs[-1][1] = t
        elif k != 0:
            runs.append([t, t])
        previous = k
    assert first.tolist() == [r[0] for r in runs] and last.tolist() == [r[1] for r in runs]
    for (f, l), k, c in zip(runs, ids, confidence):
        assert c == pytest.approx(np.exp(log_probs[f : l + 1, k]).max())


def test_forced_alignment_of_a_text_too_long_for_its_frames():
    first, last, confidence = forced_alignment(np.log(np.full((2, 3), 1 / 3)), [1, 1])
    assert first.tolist() == [-1, -1] and last.tolist() == [-1, -1] and confidence.tolist() == [0, 0]


class InkModel:
    """A stand-in line model: a frame (4 columns) with ink says 'a', an empty one says blank.

    So every separate block of ink is one 'a' whose frames are exactly the block's columns.
    """

    horizontal_stride = 4

    def __init__(self):
        self.charset = Charset("a")
        self.preprocess_config = PreprocessConfig(height=32, deslant=False)

    def output_lengths(self, width):
        return (tf.cast(width, tf.int32) + 3) // 4

    def __call__(self, inputs, training=False):
        image = inputs["image"][..., 0]
        width = tf.shape(image)[2]
        padded = tf.pad(image, [[0, 0], [0, 0], [0, (-width) % 4]])
        frames = tf.reduce_max(tf.reshape(padded, [tf.shape(image)[0], 32, -1, 4]), axis=[1, 3])
        ink = tf.cast(frames > 0.5, tf.float32)
        return tf.stack([8.0 * (1 - ink), 8.0 * ink], axis=-1)


def _blocks_image():
    image = np.full((48, 300), 255, np.uint8)
    image[10:38, 40:64] = 0
    image[10:38, 150:170] = 0
    image[10:38, 230:280] = 0
    return image


@pytest.mark.parametrize("beam", [1, 3])
def test_transcriber_characters_sit_on_their_ink_in_the_input_image(beam):
    result = Transcriber(InkModel()).transcribe([_blocks_image(), b"not an image"], beam=beam)
    good, bad = result
    assert good.text == "aaa" and bad.error and bad.characters == ()
    assert [c.char for c in good.characters] == ["a", "a", "a"]
    blocks = [(40, 64), (150, 170), (230, 280)]
    scale = 24 / 28  # 28 ink rows (of 48 after the crop) become 28 of the 32 (2-pixel margins)
    for c, (x0, x1) in zip(good.characters, blocks):
        # Frames are 4 line columns (~4.7 image pixels): the span covers the block to a frame.
        assert abs(c.x_start - x0) <= 4 / scale + 1 and abs(c.x_end - x1) <= 4 / scale + 1, (c, x0, x1)
        assert c.confidence == pytest.approx(np.exp(8) / (1 + np.exp(8)), rel=1e-4)


def test_jsonl_carries_the_characters():
    from keras_htr.cli.transcribe import format_result

    result = Transcription("a.png", "hi", 0.9, characters=(Character("h", 0.95, 3.0, 9.5), Character("i", 0.8, 12.0, 14.0)))
    row = json.loads(format_result(result, "jsonl"))
    assert row["chars"] == [
        {"char": "h", "confidence": 0.95, "x_start": 3.0, "x_end": 9.5},
        {"char": "i", "confidence": 0.8, "x_start": 12.0, "x_end": 14.0},
    ]
    assert "chars" not in json.loads(format_result(Transcription("b.png", error="bad"), "jsonl"))

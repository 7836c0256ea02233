"""Where each character of a transcription lies: CTC alignment to frames, then to image pixels.

Greedy decoding knows its characters' frames from the best path (`greedy_alignment`). For
any other text (a beam search's, a language model's), `forced_alignment` finds the most
probable CTC path that spells exactly that text (Viterbi), and gives each character the same
two things: its frames and its confidence (the highest posterior of its label over them).
`characters` turns either into `Character` records with x-positions in the input image.
"""

from __future__ import annotations

import numpy as np

from keras_htr.charset import BLANK_ID


def forced_alignment(log_probs, ids, blank_index: int = BLANK_ID):
    """The best CTC path of `ids` through `log_probs`: each label's frames and confidence.

    Args:
        log_probs: float (T, C) log-softmax of one line's frames (only its own frames).
        ids: the label ids (no blanks) to align.
        blank_index: id of the CTC blank.

    Returns:
        `(first, last, confidence)`, numpy arrays of len(ids): each label's first and last
        frame (inclusive) and the highest probability of the label over those frames. All
        -1 / 0 if the labels cannot fit the frames (fewer frames than labels plus repeats).

    Example:

    >>> logp = np.log(np.array([[.1, .8, .1], [.1, .8, .1], [.8, .1, .1], [.1, .1, .8]]))
    >>> first, last, conf = forced_alignment(logp, [1, 2])
    >>> first.tolist(), last.tolist()
    ([0, 3], [1, 3])
    """
    log_probs = np.asarray(log_probs, np.float64)
    ids = [int(i) for i in ids]
    frames, count = log_probs.shape[0], len(ids)
    first = np.full(count, -1, np.int64)
    last = np.full(count, -1, np.int64)
    confidence = np.zeros(count, np.float64)
    if count == 0:
        return first, last, confidence
    labels = np.full(2 * count + 1, blank_index, np.int64)
    labels[1::2] = ids
    states = len(labels)
    # A label state may skip the blank before it unless it repeats the label before that.
    skip = np.zeros(states, bool)
    skip[3::2] = labels[3::2] != labels[1:-2:2]
    score = np.full(states, -np.inf)
    score[:2] = log_probs[0, labels[:2]]
    back = np.zeros((frames, states), np.int8)  # 0: stay, 1: from s-1, 2: from s-2
    for t in range(1, frames):
        stay = score
        step = np.concatenate([[-np.inf], score[:-1]])
        jump = np.where(skip, np.concatenate([[-np.inf, -np.inf], score[:-2]]), -np.inf)
        options = np.stack([stay, step, jump])
        back[t] = np.argmax(options, axis=0)
        score = options[back[t], np.arange(states)] + log_probs[t, labels]
    end = states - 1 if states == 1 or score[-1] >= score[-2] else states - 2
    if not np.isfinite(score[end]):
        return first, last, confidence
    state = end
    for t in range(frames - 1, -1, -1):
        if state % 2 == 1:
            k = state // 2
            probability = float(np.exp(log_probs[t, labels[state]]))
            if last[k] < 0:
                last[k] = t
            first[k] = t
            confidence[k] = max(confidence[k], probability)
        state -= int(back[t, state])
    return first, last, confidence


def characters(text, first, last, confidence, geometry, stride: int) -> tuple:
    """`Character` records of `text` from its alignment and the preprocessing's geometry.

    Frame `t` covers line columns `[t * stride, (t + 1) * stride)`; `geometry` (from
    `preprocess_line(..., return_geometry=True)`: offset, scale, image width) maps line
    columns to image columns. A character's `x_start, x_end` span its frames, clipped to the
    image.
    """
    from keras_htr.results import Character

    offset, scale, width = (float(v) for v in geometry)
    out = []
    for char, f0, f1, c in zip(text, first, last, confidence):
        if f0 < 0:
            x0 = x1 = -1.0
        else:
            x0 = min(max(offset + scale * stride * int(f0), 0.0), width)
            x1 = min(max(offset + scale * stride * (int(f1) + 1), 0.0), width)
        out.append(Character(char, float(c), round(x0, 1), round(x1, 1)))
    return tuple(out)


__all__ = ["characters", "forced_alignment"]

"""Fine-tuning: adapt a trained line model to a new hand from a few labelled lines.

Archives hold many writers with a few labelled pages each (seed 000), so the usual way to read a
new hand is to start from a trained model, not from scratch: `fine_tune` (and
`keras-htr train --init-from MODEL|shipped`) starts from the weights of any keras-htr `.keras`
line model or of the shipped one, resizes its output layer to the alphabet the new lines need,
and trains with defaults chosen for tens of lines on a 2-core CPU (`FINETUNE_DEFAULTS`). The run
directory is the one `train` writes (`best.keras`, `last.keras`, `state.json`; `resume` works).

Alphabet modes (Kraken's `--resize`):

- `"union"`: the model's symbols plus any new ones in the labels (the default);
- `"new"`: exactly the symbols of the labels; symbols the model had and the labels lack go;
- `"keep"`: the model's symbols only; labels holding others are an error, before training.

In every mode a symbol the model already writes keeps its output weights; new symbols start
fresh (`keras_htr.models.line_model.resize_output`).

`pull_to_start` (`--pull-to-start`) adds an L2-SP pull (Li et al., ICML 2018): after each step
every trained weight moves back toward its value when fine-tuning started, so a few lines adapt
the model without carrying it far from what it learnt on many writers
(`keras_htr.training.PullToStart`).
"""

from __future__ import annotations

from pathlib import Path

#: `init_from` value naming the shipped model.
SHIPPED = "shipped"
#: Accepted `alphabet` values, see the module docstring.
ALPHABET_CHOICES = ("union", "new", "keep")
#: Fine-tuning defaults (`TrainConfig` fields), for tens of lines in minutes on 2 CPU cores.
#: The schedule is sized by the lines: 25 epochs of 4 passes each (100 passes over the training
#: lines, at most 40 batches of 8 an epoch), the whole cosine schedule, and the last epoch is
#: the run's model (`keep="last"`): a tenth of 30 lines is 3 validation lines, too noisy to pick
#: an epoch by. 27 training lines make 25 epochs of 14 batches (350 steps).
#: Measured on an unseen pen-path writer (ems-felix, `benchmarks/finetune_curve.py`'s writer 0
#: at seed 90210, not the seed the curve is reported at), by the CER on its 30 test lines
#: (shipped model: 27.6%):
#:   - 25 lines (22 to train on), lr 1e-3, 300 steps of 8 (109 passes), last epoch: 18.3%;
#:     the same stopped early by the 3 validation lines (patience 8, epoch 3 kept): 21.8%;
#:     the epoch the 3 lines picked from the 300 steps: 24.3%; 600 steps: 19.1%;
#:     lr 5e-4: 20.3%; lr 2e-3: 23.0%; the encoder frozen: 22.9%.
#:   - 10 lines (9 to train on): 300 steps (267 passes): 27.3%, the lines learnt by heart;
#:     110 steps (98 passes): 24.7%. Hence a schedule in passes, not in steps.
#: Augmentation stays on: with few lines it is most of what keeps the model from learning them
#: by heart.
#: The pull toward the start (L2-SP, strength 30) is on: with the session-6 shipped model, on
#: `benchmarks/finetune_curve.py`'s 4 writers at seed 31337, it gave a lower CER than no pull at
#: every point (10 and 25 lines), and without it 10 lines made every writer worse.
FINETUNE_DEFAULTS = {
    "learning_rate": 1e-3,
    "batch_size": 8,
    "epochs": 25,
    "passes_per_epoch": 4.0,
    "max_steps_per_epoch": 40,
    "patience": 8,
    "keep": "last",
    "augment": True,
    "augment_strength": 1.0,
    "pull_to_start": 30.0,
}


def _invalid(name, expected, value):
    return ValueError(f"Received an invalid value for argument `{name}`, expected {expected}, got {value!r}")


def resolve_model_path(init_from) -> Path:
    """The `.keras` file `init_from` names: a path, or `"shipped"` for the shipped model."""
    if str(init_from) == SHIPPED:
        from keras_htr.transcriber import SHIPPED_MODEL

        return SHIPPED_MODEL
    return Path(init_from)


def load_init_model(init_from):
    """The `LineModel` to fine-tune, with a clear error for any other file.

    The check reads the file's config first, so a paragraph model, a plain Keras model or a
    model from another package is refused by name instead of failing inside Keras' loader.

    Args:
        init_from: a `.keras` path, or `"shipped"`.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is not a `.keras` archive or holds something else than a
            keras-htr `LineModel` (the message names the file and what it holds).
    """
    from keras_htr.models.line_model import check_line_model_file
    from keras_htr.transcriber import load_line_model

    path = resolve_model_path(init_from)
    check_line_model_file(path)
    return load_line_model(path)


def fine_tune_charset(charset, samples, alphabet: str = "union"):
    """The `Charset` a fine-tuned model writes, from the model's and the labels' symbols.

    Args:
        charset: the initial model's `Charset`.
        samples: the labelled lines (training and validation), `Sample`s.
        alphabet: `"union"`, `"new"` or `"keep"` (see the module docstring).

    Raises:
        ValueError: with `"keep"`, labels hold symbols the model lacks; the message names the
            symbols and the files holding them.
    """
    from keras_htr.charset import Charset

    if alphabet not in ALPHABET_CHOICES:
        raise _invalid("alphabet", f"one of {ALPHABET_CHOICES}", alphabet)
    texts = [s.text for s in samples]
    if alphabet == "union":
        return charset.union(texts)
    if alphabet == "new":
        return Charset.from_texts(texts)
    where: dict = {}
    for s in samples:
        for c in charset.unknown(s.text):
            where.setdefault(c, []).append(s.source)
    if where:
        symbols = sorted(where)
        files = sorted({f for c in symbols for f in where[c]})
        shown = ", ".join(files[:5]) + (f" and {len(files) - 5} more" if len(files) > 5 else "")
        raise ValueError(
            f"--alphabet keep: the model cannot write the symbols {symbols!r} found in the labels "
            f"of {shown}; use --alphabet union (add them) or remove those lines"
        )
    return charset


def initial_model(init_model, samples, alphabet: str = "union", freeze=None):
    """The model fine-tuning starts from: `init_model` resized to the labels' alphabet."""
    from keras_htr.models.line_model import resize_output

    charset = fine_tune_charset(init_model.charset, samples, alphabet)
    return resize_output(init_model, charset, freeze=freeze)


def fine_tune(
    train,
    out,
    init_from=SHIPPED,
    val=None,
    alphabet: str = "union",
    freeze=None,
    resume: bool = False,
    **options,
):
    """Fine-tune a trained line model on a few lines of a new hand.

    Args:
        train: the fine-tuning lines (anything `read_dataset` reads).
        out: the run directory (as `train` writes it).
        init_from: a keras-htr `.keras` line model, or `"shipped"`. Defaults to `"shipped"`.
        val: validation lines; None holds out a tenth of `train` (at least one line), chosen by
            `seed` and listed in `<out>/validation_lines.txt`. Defaults to None.
        alphabet: `"union"`, `"new"` or `"keep"`. Defaults to `"union"`.
        freeze: None, or `"encoder"` to train only the sequence and output layers.
        resume: continue the run in `out`.
        **options: other `TrainConfig` fields (`epochs`, `learning_rate`, `seed`, ...);
            unset ones take `FINETUNE_DEFAULTS`, then `TrainConfig`'s defaults.

    Returns:
        The `TrainResult`.

    Example:

    >>> result = fine_tune("writer_17/lines", "runs/writer_17")   # doctest: +SKIP
    >>> load_transcriber(result.best_model)                        # doctest: +SKIP
    """
    from keras_htr.training import TrainConfig
    from keras_htr.training import train as run_training

    config = TrainConfig(
        train=str(train), val=None if val is None else str(val), out=str(out),
        init_from=str(init_from), alphabet=alphabet, freeze=freeze,
        **{**FINETUNE_DEFAULTS, **options},
    )
    return run_training(config, resume=resume)


__all__ = [
    "ALPHABET_CHOICES",
    "FINETUNE_DEFAULTS",
    "SHIPPED",
    "fine_tune",
    "fine_tune_charset",
    "initial_model",
    "load_init_model",
    "resolve_model_path",
]

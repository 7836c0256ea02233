"""Training of the paragraph model (`ParagraphModel`): plain `model.fit` with a curriculum.

The run directory is laid out like a line training run (`keras_htr.training`) and reuses its
pieces: `best.keras` (lowest validation CER), `last.keras` and `state.json` after every epoch,
`--resume` from there, TensorBoard scalars in `logs/`, no checkpoint of a NaN model.

Validation, once per epoch: each paragraph is read as at inference (the end head decides how many
lines), its lines greedy-decoded and joined with "\\n"; `val_cer` is the CER of those texts against
the ground-truth paragraphs and `val_line_accuracy` the share of paragraphs read with the right
number of lines.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from pathlib import Path

import keras

from keras_htr.training import (
    BEST_MODEL,
    BestCheckpoint,
    EpochCheckpoint,
    ScalarLogs,
    TrainResult,
    _optimizer,
    open_run,
)

logger = logging.getLogger(__name__)
CONFIG_FILE = "paragraph_config.json"


@dataclasses.dataclass
class ParagraphTrainConfig:
    """What `train_paragraph` needs.

    Args:
        train, val: folders or PAGE XML files of paragraphs (`read_paragraphs`).
        out: the run directory.
        init_from: a line model `.keras` file, or "shipped" for the shipped line model, whose
            encoder, BLSTMs and output layer (and alphabet) the paragraph model starts from.
        epochs, steps_per_epoch, batch_size: the budget; a batch holds `batch_size` paragraphs.
        learning_rate, weight_decay, clipnorm: AdamW with warmup and cosine decay (as line
            training; weight_decay 0 gives Adam).
        curriculum: most lines per paragraph at epochs 0, 1, ...; the last holds after.
        attention_units, max_lines: as for `ParagraphModel`.
        max_val: validate on at most this many paragraphs (the first ones). Defaults to 100.
        seed: data order and weight seeds.
        verbose: Keras' fit verbosity.
    """

    train: Sequence[str]
    val: Sequence[str]
    out: str
    init_from: str = "shipped"
    epochs: int = 10
    steps_per_epoch: int = 200
    batch_size: int = 4
    learning_rate: float = 3e-4
    weight_decay: float = 1e-4
    clipnorm: float = 5.0
    curriculum: Sequence[int] = (2, 4, 8, 15)
    attention_units: int = 128
    max_lines: int = 20
    max_val: int = 100
    val_batch_size: int = 8
    seed: int = 0
    verbose: int | str = "auto"

    def __post_init__(self):
        self.train = [self.train] if isinstance(self.train, str) else list(self.train)
        self.val = [self.val] if isinstance(self.val, str) else list(self.val)
        self.curriculum = tuple(int(c) for c in self.curriculum)
        for name in ("epochs", "steps_per_epoch", "batch_size", "max_val", "val_batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(
                    f"Received an invalid value for argument `{name}`, expected a positive int, got {value!r}"
                )
        if not self.learning_rate > 0:
            raise ValueError(
                f"Received an invalid value for argument `learning_rate`, expected > 0, got {self.learning_rate!r}"
            )
        if not self.train or not self.val:
            raise ValueError("Both `train` and `val` paragraph sets are needed")

    def get_config(self) -> dict:
        return {**dataclasses.asdict(self), "curriculum": list(self.curriculum)}


def paragraph_texts(model, samples, batch_size=8, progress=False):
    """(predicted paragraph texts, predicted line counts) of `samples`, read as at inference."""
    import numpy as np
    from tqdm import tqdm

    from keras_htr.data.paragraph import paragraph_batches
    from keras_htr.decoders.greedy import greedy_decode

    texts, counts = [], []
    batches = paragraph_batches(samples, model.charset, batch_size, shuffle=False)
    total = -(-len(samples) // batch_size)
    for x, _ in tqdm(batches, total=total, desc="val paragraphs", disable=not progress, leave=False):
        out = model.read_paragraph(x)
        logits = out["logits"].numpy()
        n_lines = out["n_lines"].numpy()
        b, t = logits.shape[:2]
        lengths = np.repeat(out["lengths"].numpy(), t)
        ids, _ = greedy_decode(logits.reshape(b * t, *logits.shape[2:]), lengths)
        ids = ids.numpy().reshape(b, t, -1)
        for k in range(b):
            lines = [model.charset.decode(ids[k, j]) for j in range(min(n_lines[k], t))]
            texts.append("\n".join(lines))
            counts.append(int(n_lines[k]))
    return texts, counts


class ParagraphErrorCallback(keras.callbacks.Callback):
    """Adds `val_cer` (paragraph texts, lines joined by "\\n") and `val_line_accuracy` (right
    number of lines) to the epoch logs."""

    def __init__(self, samples, batch_size=8):
        super().__init__()
        self.samples = list(samples)
        self.batch_size = batch_size

    def on_epoch_end(self, epoch, logs=None):
        from keras_htr.metrics import cer

        texts, counts = paragraph_texts(self.model, self.samples, self.batch_size)
        refs = [s.text for s in self.samples]
        if logs is not None:
            logs["val_cer"] = cer(refs, texts)
            logs["val_line_accuracy"] = sum(
                c == len(s.lines) for c, s in zip(counts, self.samples)
            ) / len(self.samples)


class CurriculumCallback(keras.callbacks.Callback):
    """Moves the `Curriculum` to the epoch that begins (a few prefetched batches lag)."""

    def __init__(self, curriculum):
        super().__init__()
        self.curriculum = curriculum

    def on_epoch_begin(self, epoch, logs=None):
        self.curriculum.epoch = epoch


def _read(paths, what):
    from keras_htr.data.paragraph import read_paragraphs

    samples, errors = read_paragraphs(paths)
    for error in errors:
        logger.warning("%s: skipped %s", what, error)
    if not samples:
        raise ValueError(f"No {what} paragraphs found in {list(paths)}")
    return samples


def load_line_model_for_init(init_from: str):
    """The line model named by `init_from` ("shipped" or a `.keras` file)."""
    from keras_htr.transcriber import SHIPPED_MODEL, load_line_model

    return load_line_model(SHIPPED_MODEL if init_from == "shipped" else init_from)


def train_paragraph(config: ParagraphTrainConfig, resume: bool = False) -> TrainResult:
    """Train (or resume) a paragraph model; returns where the models went.

    A new run refuses a directory that already holds a finished epoch (use `resume`); resuming
    continues from `state.json` with the stored config (only `epochs` and `verbose` may change).
    """
    from keras_htr.data.paragraph import Curriculum, paragraph_dataset
    from keras_htr.models.paragraph import ParagraphModel

    run_dir = Path(config.out)
    run_dir.mkdir(parents=True, exist_ok=True)
    changes = {"epochs": config.epochs, "verbose": config.verbose}
    state, config = open_run(run_dir, config, resume, changes, CONFIG_FILE)
    initial_epoch = (state or {}).get("epoch", 0)
    keras.utils.set_random_seed(config.seed + initial_epoch)

    if state is not None:
        model = keras.models.load_model(run_dir / state["checkpoint"])
    else:
        line_model = load_line_model_for_init(config.init_from)  # a wrong file fails first
        model = ParagraphModel.from_line_model(
            line_model, attention_units=config.attention_units, max_lines=config.max_lines
        )
        del line_model
    train_set = _read(config.train, "training")
    val_set = _read(config.val, "validation")[: config.max_val]
    unknown = set("".join(s.text for s in train_set)) - set(model.charset.chars) - {"\n"}
    if unknown:
        logger.warning("characters the model does not write are dropped from labels: %s",
                       "".join(sorted(unknown)))

    curriculum = Curriculum(config.curriculum)
    curriculum.epoch = initial_epoch
    train_ds = paragraph_dataset(
        train_set, model.charset, config.batch_size, curriculum, shuffle=True,
        seed=config.seed + initial_epoch, repeat=True,
    )
    if state is None:
        model.compile(optimizer=_optimizer(config, config.steps_per_epoch), jit_compile=False)

    best_checkpoint = BestCheckpoint(run_dir / BEST_MODEL, monitor="val_cer", mode="min", save_best_only=True)
    # No early stopping in a budgeted run; EpochCheckpoint records its (unused) state.
    never = keras.callbacks.EarlyStopping(monitor="val_cer", mode="min", patience=10**9)
    epoch_checkpoint = EpochCheckpoint(run_dir, best_checkpoint, never, state)
    callbacks = [
        CurriculumCallback(curriculum),
        ParagraphErrorCallback(val_set, config.val_batch_size),
        best_checkpoint,
        never,
        epoch_checkpoint,
        ScalarLogs(run_dir / "logs"),
        keras.callbacks.TerminateOnNaN(),
    ]
    if initial_epoch < config.epochs:
        model.fit(
            train_ds,
            epochs=config.epochs,
            initial_epoch=initial_epoch,
            steps_per_epoch=config.steps_per_epoch,
            shuffle=False,  # the dataset orders the paragraphs itself, by (seed, epoch)
            callbacks=callbacks,
            verbose=config.verbose,
        )
    return TrainResult.of_run(run_dir, epoch_checkpoint.state)

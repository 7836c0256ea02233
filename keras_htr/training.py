"""Train a line recognizer with CTC through `model.fit`, with checkpoints that survive a kill.

A run directory holds:

- `train_config.json`: the `TrainConfig` of the run;
- `best.keras`: the run's model (with optimizer state): the one with the lowest validation CER
  so far, or with `keep="last"` the last epoch's;
- `last.keras` and `checkpoints/epoch-NNNN.keras`: the model after the last finished epoch,
  with optimizer state; `state.json` names that checkpoint and holds the epoch counter, the
  best CER and the early-stopping counter. It is replaced atomically after the checkpoint is
  written, so a run killed at any moment (even SIGKILL) resumes from a consistent last epoch;
- `logs/`: TensorBoard scalars (loss, val_cer, val_wer, learning rate) per epoch;
- `validation_lines.txt`: without validation data, the training lines held out for it.

A run starts from scratch, or (`init_from`) from a trained line model: fine-tuning, see
`keras_htr.finetune`.

Validation is one pass per epoch: `keras_htr.evaluation.ErrorRateCallback` transcribes the
validation lines exactly as `keras-htr evaluate` would (`fit` gets no `validation_data`, so
there is no `val_loss`). An epoch whose weights are no longer finite (a NaN stopped training)
is never saved: `last.keras`, `state.json` and `best.keras` keep the last good model.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import os
from pathlib import Path

import keras
import numpy as np

from keras_htr.data.augment import MAX_STRENGTH, LineAugmentation
from keras_htr.models.config import ModelConfig

logger = logging.getLogger(__name__)

STATE_FILE = "state.json"
CONFIG_FILE = "train_config.json"
BEST_MODEL = "best.keras"
LAST_MODEL = "last.keras"
#: What `TrainConfig.keep` accepts: which epoch `best.keras` holds.
KEEP_CHOICES = ("best", "last")
HELD_OUT_FILE = "validation_lines.txt"
#: Share of the training lines held out for validation when no validation data is given.
VAL_FRACTION = 0.1


def _invalid(name, expected, value):
    return ValueError(f"Received an invalid value for argument `{name}`, expected {expected}, got {value!r}")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """What to train on, where to write, and how long.

    Args:
        train: training data (anything `read_dataset` reads).
        val: validation data; its CER picks the best checkpoint and stops training early.
            None holds out a tenth of the training lines (at least one), chosen by `seed`.
        out: the run directory.
        model: the `ModelConfig` (architecture and sizes).
        height: line height in pixels (the model's `PreprocessConfig.height`).
        epochs: last epoch to train (a resumed run continues up to it).
        batch_size: lines per batch.
        learning_rate: peak learning rate of AdamW (cosine decay after a linear warm-up).
        weight_decay: AdamW weight decay (0 gives Adam).
        clipnorm: gradient clipping by the global norm of all gradients together (the
            optimizer's `global_clipnorm`; Keras' `clipnorm` would clip each variable alone).
        patience: epochs without a better validation CER before stopping (with
            `keep="best"`).
        keep: which epoch `best.keras` (the run's model) holds: `"best"`, the lowest
            validation CER, stopping early after `patience` epochs without a better one; or
            `"last"`, the last epoch of the whole schedule (no early stop). `"last"` suits a
            validation set of a few lines, whose CER is too noisy to pick an epoch by: on 25
            lines of an unseen writer, the last epoch of 30 was better on the writer's other
            lines than the epoch its 3 validation lines picked (18.3% against 24.3% CER).
        augment: augment training lines (`keras_htr.data.augment.LineAugmentation`).
        augment_strength: how strongly (its `strength`): 1 the default distortions, 0 none, at
            most `LineAugmentation`'s `MAX_STRENGTH`. A few lines of one hand may need more than a
            large varied set.
        jit_compile: compile the training step with XLA. Off by default: on this project's
            2-core CPU machines XLA made a CRNN step ~3.5x slower and compiled each new batch
            width for ~60 s, where graph mode traces once (see benchmarks/train_step.py).
        cache: keep preprocessed lines in memory between epochs.
        steps_per_epoch: batches per epoch (None: as many as the training set fills).
        seed: seed of the line order, augmentation and initial weights. The line order of
            each epoch depends only on (seed, epoch), so a resumed run continues it.
        deterministic_augment: augment lines in order on one core, so a seeded run draws the
            same distortions every time. Off by default: augmentation then runs in parallel
            (faster) and which line gets which distortion varies between runs.
        verbose: Keras progress output (1: progress bar, 2: one line per epoch, 0: silent).
        init_from: None to train from scratch; or fine-tune: a keras-htr `.keras` line model,
            or `"shipped"`. The model's sizes and preprocessing then come from it (`model` and
            `height` are unused). See `keras_htr.finetune`.
        alphabet: with `init_from`, how the output layer is resized: `"union"`, `"new"` or
            `"keep"` (see `keras_htr.finetune`).
        freeze: with `init_from`, None or `"encoder"` (train only the sequence and output
            layers).
        passes_per_epoch: with `steps_per_epoch` None, an epoch is this many passes over the
            training lines, in whole batches (more than 1 repeats a small set within an epoch,
            with fresh augmentation), and then at least `min_steps_per_epoch` and at most
            `max_steps_per_epoch` (None: no limit) batches. Fine-tuning sizes the whole
            schedule by the lines this way (see `keras_htr.finetune.FINETUNE_DEFAULTS`).
        min_steps_per_epoch, max_steps_per_epoch: see `passes_per_epoch`.
        pull_to_start: with `init_from`, the strength of a pull of every trained weight back
            toward its starting value after each step (L2-SP; `PullToStart`).
            0 (the default here) turns it off; fine-tuning defaults to 30 (`FINETUNE_DEFAULTS`).
        strategy: None (one device), `"mirrored"` (all GPUs of this machine, or its logical
            CPU devices) or `"multiworker"` (machines described by `TF_CONFIG`); see
            `keras_htr.distribute.make_strategy`. `batch_size` is then the global batch, split
            among the replicas. In a multi-worker run the chief writes to `out`, the other
            workers to `out/worker-<index>`.
    """

    train: str
    val: str | None
    out: str
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    height: int = 32
    epochs: int = 30
    batch_size: int = 16
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    clipnorm: float = 5.0
    patience: int = 8
    keep: str = "best"
    augment: bool = True
    augment_strength: float = 1.0
    jit_compile: bool = False
    cache: bool = True
    steps_per_epoch: int | None = None
    seed: int | None = 0
    deterministic_augment: bool = False
    verbose: int = 1
    init_from: str | None = None
    alphabet: str = "union"
    freeze: str | None = None
    passes_per_epoch: float = 1.0
    min_steps_per_epoch: int = 1
    max_steps_per_epoch: int | None = None
    pull_to_start: float = 0.0
    strategy: str | None = None

    def __post_init__(self):
        if isinstance(self.model, dict):
            object.__setattr__(self, "model", ModelConfig.from_config(self.model))
        for name in ("epochs", "batch_size", "patience", "height", "min_steps_per_epoch"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise _invalid(name, "a positive integer", value)
        for name in ("steps_per_epoch", "max_steps_per_epoch"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise _invalid(name, "None or a positive integer", value)
        if self.max_steps_per_epoch is not None and self.max_steps_per_epoch < self.min_steps_per_epoch:
            raise _invalid("max_steps_per_epoch", f"at least min_steps_per_epoch ({self.min_steps_per_epoch})",
                           self.max_steps_per_epoch)
        if not self.passes_per_epoch > 0:
            raise _invalid("passes_per_epoch", "a positive number", self.passes_per_epoch)
        if not self.learning_rate > 0:
            raise _invalid("learning_rate", "a positive number", self.learning_rate)
        if self.weight_decay < 0 or self.clipnorm <= 0:
            raise _invalid("weight_decay, clipnorm", "weight_decay >= 0 and clipnorm > 0",
                           (self.weight_decay, self.clipnorm))
        if not 0 <= self.augment_strength <= MAX_STRENGTH:
            raise _invalid("augment_strength", f"a number from 0 to {MAX_STRENGTH:g}", self.augment_strength)
        if not self.pull_to_start >= 0:
            raise _invalid("pull_to_start", "a number >= 0", self.pull_to_start)
        if self.pull_to_start and self.init_from is None:
            raise _invalid("pull_to_start", "0 without init_from (it pulls toward the initial model)",
                           self.pull_to_start)
        if self.keep not in KEEP_CHOICES:
            raise _invalid("keep", f"one of {KEEP_CHOICES}", self.keep)
        if self.verbose not in (0, 1, 2):
            raise _invalid("verbose", "0, 1 or 2", self.verbose)
        from keras_htr.finetune import ALPHABET_CHOICES
        from keras_htr.models.line_model import FREEZE_CHOICES

        if self.alphabet not in ALPHABET_CHOICES:
            raise _invalid("alphabet", f"one of {ALPHABET_CHOICES}", self.alphabet)
        if self.freeze not in FREEZE_CHOICES:
            raise _invalid("freeze", f"one of {FREEZE_CHOICES}", self.freeze)
        from keras_htr.distribute import STRATEGIES

        if self.strategy is not None and self.strategy not in STRATEGIES:
            raise _invalid("strategy", f"None or one of {STRATEGIES}", self.strategy)

    def get_config(self) -> dict:
        config = dataclasses.asdict(self)
        config["model"] = self.model.get_config()
        return config

    @classmethod
    def from_config(cls, config: dict) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(config) - known)
        if unknown:
            raise _invalid("config", f"only the keys {sorted(known)}", unknown)
        return cls(**config)


@dataclasses.dataclass
class TrainResult:
    """What a run produced: paths, the epoch reached and the per-epoch history."""

    run_dir: Path
    best_model: Path
    last_model: Path
    epochs_done: int
    best_val_cer: float | None
    history: dict
    #: Fine-tuning: the validation CER of the starting model (after resizing its output), so a
    #: run can be judged against where it started. None when training from scratch.
    initial_val_cer: float | None = None

    @classmethod
    def of_run(cls, run_dir: Path, state: dict) -> TrainResult:
        """The result of the run in `run_dir` whose resume state is `state`."""
        return cls(
            run_dir=run_dir,
            best_model=run_dir / BEST_MODEL,
            last_model=run_dir / LAST_MODEL,
            epochs_done=state.get("epoch", 0),
            best_val_cer=state.get("best_val_cer"),
            history=state.get("history", {}),
            initial_val_cer=state.get("initial_val_cer"),
        )


def _write_json_atomic(path: Path, data: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def read_state(run_dir) -> dict | None:
    """The resume state of a run directory, or None if no epoch has finished yet."""
    path = Path(run_dir) / STATE_FILE
    if not path.is_file():
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def open_run(run_dir: Path, config, resume: bool, changes: dict, config_file: str = CONFIG_FILE):
    """(state, config) of the run in `run_dir`, whose config is stored as `config_file`.

    A new run refuses a directory that already holds a finished epoch, and stores `config`.
    Resuming takes the stored config with `changes` applied (what may change between the parts
    of one run) and stores that, so the next resume keeps it.
    """
    state = read_state(run_dir)
    if state is not None and not resume:
        raise FileExistsError(
            f"{run_dir} already holds a run (epoch {state['epoch']}); pass resume=True "
            f"(--resume) to continue it or choose another --out"
        )
    if resume and state is not None:
        stored = json.loads((run_dir / config_file).read_text(encoding="utf-8"))
        config = type(config)(**{**stored, **changes, "out": str(run_dir)})
    _write_json_atomic(run_dir / config_file, config.get_config())
    return state, config


def is_finite(model) -> bool:
    """True if every weight of `model` and of its optimizer is finite (no NaN or inf).

    A model that went NaN is worthless, and so is a checkpoint of it: resuming from it trains
    NaNs forever. So checkpoints are written only for finite models.
    """
    import numpy as np

    optimizer = getattr(model, "optimizer", None)
    variables = list(model.weights) + list(getattr(optimizer, "variables", None) or [])
    for variable in variables:
        value = keras.ops.convert_to_numpy(variable)
        if np.issubdtype(value.dtype, np.floating) and not np.all(np.isfinite(value)):
            return False
    return True


class BestCheckpoint(keras.callbacks.ModelCheckpoint):
    """`ModelCheckpoint` that never saves a model with non-finite weights.

    Without this, a run that goes NaN in its first epoch would save the NaN model as the best
    one (any CER beats the initial infinity).
    """

    def on_epoch_end(self, epoch, logs=None):
        if is_finite(self.model):
            super().on_epoch_end(epoch, logs)


class EpochCheckpoint(keras.callbacks.Callback):
    """Saves the model (with optimizer) after every epoch and records the resume state.

    Order matters: put it after `ModelCheckpoint` and `EarlyStopping` so their updated
    `best` / `wait` are recorded, and so that on resume it restores them after their own
    `on_train_begin` reset them.

    An epoch that ends with non-finite weights (`TerminateOnNaN` stops training, but Keras
    still ends the epoch) is not saved: `last.keras` and `state.json` keep naming the last
    good checkpoint, which is not deleted, so `--resume` starts from a usable model.

    Args:
        run_dir: the run directory.
        best_checkpoint: the `ModelCheckpoint` keeping the best model.
        early_stopping: the `EarlyStopping` callback.
        state: the state read on resume, or None for a new run.
    """

    def __init__(self, run_dir, best_checkpoint, early_stopping, state=None):
        super().__init__()
        self.run_dir = Path(run_dir)
        self.best_checkpoint = best_checkpoint
        self.early_stopping = early_stopping
        self.state = dict(state or {"epoch": 0, "history": {}})

    def on_train_begin(self, logs=None):
        best = self.state.get("best_val_cer")
        if best is not None:
            self.best_checkpoint.best = best
            self.early_stopping.best = best
            self.early_stopping.wait = self.state.get("wait", 0)
            self.early_stopping.best_epoch = self.state.get("best_epoch", 0)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if not is_finite(self.model):
            logger.warning(
                "epoch %d ended with non-finite weights; not saved (the last good checkpoint, "
                "epoch %d, stays the one to resume from)", epoch + 1, self.state.get("epoch", 0)
            )
            return
        checkpoints = self.run_dir / "checkpoints"
        checkpoints.mkdir(exist_ok=True)
        path = checkpoints / f"epoch-{epoch + 1:04d}.keras"
        self.model.save(path)
        history = self.state.setdefault("history", {})
        for key, value in logs.items():
            history.setdefault(key, []).append(float(value))
        best = self.best_checkpoint.best
        self.state.update(
            epoch=epoch + 1,
            checkpoint=str(path.relative_to(self.run_dir)),
            best_val_cer=None if best is None or best == float("inf") else float(best),
            wait=int(self.early_stopping.wait),
            best_epoch=int(getattr(self.early_stopping, "best_epoch", 0) or 0),
        )
        _write_json_atomic(self.run_dir / STATE_FILE, self.state)
        # `last.keras` is a hard link to the newest checkpoint, swapped in atomically.
        tmp = self.run_dir / (LAST_MODEL + ".tmp")
        tmp.unlink(missing_ok=True)
        os.link(path, tmp)
        os.replace(tmp, self.run_dir / LAST_MODEL)
        for old in checkpoints.glob("epoch-*.keras"):
            if old != path:
                old.unlink(missing_ok=True)


#: Where a fine-tuning run keeps its weights at the start (the anchor of `PullToStart`).
START_WEIGHTS_FILE = "start_weights.npz"


class PullToStart(keras.callbacks.Callback):
    """L2-SP, decoupled like AdamW's weight decay: a pull toward the starting weights.

    After each training step every trainable weight w moves toward its start w0 by
    `learning_rate * strength * (w - w0)`, the learning rate being the schedule's value at
    that step. A weight then settles where the gradient's push balances the pull, about
    1 / strength from its start for Adam's unit-sized steps; AdamW's own weight decay pulls
    toward zero instead, which forgets what the model knew.

    The start is written to `<run_dir>/start_weights.npz` when a run begins and read back
    when it resumes, so a resumed run is pulled toward the same weights.

    Args:
        strength: the pull per unit of learning rate (0 turns it off).
        run_dir: the run directory.
        resume: read the start from `run_dir` (a resumed run) instead of writing it.
    """

    def __init__(self, strength: float, run_dir, resume: bool = False):
        super().__init__()
        if not strength >= 0:
            raise ValueError(f"Received an invalid value for argument `strength`, expected a number >= 0, got {strength!r}")
        self.strength = float(strength)
        self.path = Path(run_dir) / START_WEIGHTS_FILE
        self.resume = resume
        self._pairs = []

    def on_train_begin(self, logs=None):
        variables = self.model.trainable_variables
        if self.resume:
            # By position: the paths of nested layers (an LSTM's cell) change between loads.
            with np.load(self.path) as stored:
                starts = [stored[f"arr_{i}"] for i in range(len(stored.files))]
            if [w.shape for w in starts] != [tuple(v.shape) for v in variables]:
                raise ValueError(f"{self.path} holds other weights than this model's: not this run's file")
        else:
            starts = [np.asarray(v) for v in variables]
            with open(self.path.with_suffix(".tmp"), "wb") as f:
                np.savez(f, *starts)
            self.path.with_suffix(".tmp").replace(self.path)
        self._pairs = [(v, keras.ops.convert_to_tensor(w, dtype=v.dtype)) for v, w in zip(variables, starts)]

    def on_train_batch_end(self, batch, logs=None):
        if not self.strength:
            return
        rate = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))  # the schedule's, now
        rate = min(1.0, rate * self.strength)  # 1: back to the start; more would overshoot it
        for variable, start in self._pairs:
            variable.assign(variable - rate * (variable - start))


class ScalarLogs(keras.callbacks.Callback):
    """Epoch scalars as TensorBoard event files in `log_dir/train` and `log_dir/validation`.

    Written with `tf.summary.write` and the scalars plugin's metadata, which needs only
    TensorFlow (Keras' `TensorBoard` callback needs the `tensorboard` package for scalars).
    """

    def __init__(self, log_dir):
        super().__init__()
        self.log_dir = Path(log_dir)
        self._writers = {}

    def _writer(self, name):
        import tensorflow as tf

        if name not in self._writers:
            self._writers[name] = tf.summary.create_file_writer(str(self.log_dir / name))
        return self._writers[name]

    def on_epoch_end(self, epoch, logs=None):
        import tensorflow as tf
        from tensorflow.core.framework import summary_pb2

        metadata = summary_pb2.SummaryMetadata(
            plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars")
        )
        logs = dict(logs or {})
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is not None:
            logs["learning_rate"] = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
        for key, value in logs.items():
            split, name = ("validation", key[4:]) if key.startswith("val_") else ("train", key)
            with self._writer(split).as_default():
                tf.summary.write(f"epoch_{name}", tf.constant(float(value)), step=epoch, metadata=metadata)
        for writer in self._writers.values():
            writer.flush()

    def on_train_end(self, logs=None):
        for writer in self._writers.values():
            writer.close()
        self._writers = {}


def _augmentation(config):
    """The training lines' augmentation layer, or None."""
    if not config.augment:
        return None
    return LineAugmentation(strength=config.augment_strength, seed=config.seed)


def _optimizer(config: TrainConfig, steps_per_epoch: int):
    total = max(1, steps_per_epoch * config.epochs)
    warmup = min(max(1, total // 20), 1000)
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=config.learning_rate * 0.1,
        decay_steps=max(1, total - warmup),
        warmup_target=config.learning_rate,
        warmup_steps=warmup,
        alpha=0.05,
    )
    if config.weight_decay:
        return keras.optimizers.AdamW(
            schedule, weight_decay=config.weight_decay, global_clipnorm=config.clipnorm
        )
    return keras.optimizers.Adam(schedule, global_clipnorm=config.clipnorm)


def _read_lines(name: str, path: str):
    """`read_dataset(path)`, refusing a set with no readable line (naming the unreadable files)."""
    from keras_htr.data import read_dataset

    dataset = read_dataset(path)
    errors = list(getattr(dataset, "errors", []))
    for error in errors[:10]:
        logger.warning("%s data: %s", name, error)
    if len(dataset) == 0:
        why = "; ".join(str(e) for e in errors[:5]) + (f"; and {len(errors) - 5} more" if len(errors) > 5 else "")
        raise ValueError(
            f"No readable lines in the {name} data {path!r}: "
            + (why if errors else "no line images with transcriptions found")
        )
    return dataset


def hold_out(samples, seed: int | None, fraction: float = VAL_FRACTION):
    """(training, validation) lines: a `fraction` of `samples` (at least one) held out, chosen
    by `seed` alone, so a resumed run holds out the same lines."""
    import numpy as np

    samples = list(samples)
    if len(samples) < 2:
        raise ValueError(
            f"Cannot hold out validation lines from {len(samples)} training line(s): give "
            f"validation data (--val) or at least 2 training lines"
        )
    count = max(1, round(len(samples) * fraction))
    order = np.random.default_rng(0 if seed is None else seed).permutation(len(samples))
    held = set(order[:count].tolist())
    return (
        [s for i, s in enumerate(samples) if i not in held],
        [s for i, s in enumerate(samples) if i in held],
    )


def _load_data(config: TrainConfig):
    from keras_htr.charset import Charset

    train_set = _read_lines("train", config.train)
    if config.val is None:
        train_set, val_set = hold_out(train_set, config.seed)
        (Path(config.out) / HELD_OUT_FILE).write_text(
            "".join(f"{s.source}\n" for s in val_set), encoding="utf-8"
        )
        logger.info("held out %d of %d training lines for validation", len(val_set),
                    len(train_set) + len(val_set))
    else:
        val_set = _read_lines("val", config.val)
    # Validation characters the training set lacks still count as errors, so they are in the
    # alphabet (the model just never learns to write them).
    charset = Charset.from_texts([s.text for s in train_set] + [s.text for s in val_set])
    return train_set, val_set, charset


def steps_per_epoch(config: TrainConfig, lines: int) -> int:
    """Batches per epoch with `config.steps_per_epoch` None: `passes_per_epoch` passes over
    `lines` training lines in whole batches, within the min and max."""
    steps = max(config.min_steps_per_epoch, math.ceil(config.passes_per_epoch * lines / config.batch_size))
    return min(steps, config.max_steps_per_epoch or steps)


def train(config: TrainConfig, resume: bool = False, patience: int | None = None) -> TrainResult:
    """Train (or, with `resume`, continue training) a line recognizer; returns where it went.

    A new run refuses a run directory that already has a finished epoch (use `resume`).
    Resuming loads the last checkpoint (weights and optimizer) and the epoch counter from
    `state.json` and continues with the next epoch; the stored `train_config.json` is used, so
    data and model sizes cannot silently change between the parts of one run. Only the epoch
    budget, the verbosity, the devices and, when `patience` is given, the early-stopping
    patience change; they are written to the stored config, so the next resume keeps them.
    """
    from keras_htr.data.pipeline import make_dataset
    from keras_htr.data.preprocess import PreprocessConfig
    from keras_htr.evaluation import ErrorRateCallback, evaluate
    from keras_htr.models import build_model

    strategy = None
    run_dir = Path(config.out)
    if config.strategy is not None:
        from keras_htr.distribute import is_chief, make_strategy

        strategy = make_strategy(config.strategy)
        if not is_chief(strategy):  # every worker saves (Keras saving is collective); not here
            run_dir = run_dir / f"worker-{strategy.cluster_resolver.task_id}"
    # The model is built (or loaded) and compiled inside the strategy's scope.
    def scope():  # a fresh context each time: a strategy's scope object is entered only once
        return strategy.scope() if strategy is not None else contextlib.nullcontext()

    run_dir.mkdir(parents=True, exist_ok=True)
    # The epoch budget, verbosity and devices may change when resuming, and the patience when
    # given; nothing else, so data and model sizes cannot silently change within one run.
    changes = {"epochs": config.epochs, "verbose": config.verbose, "strategy": config.strategy}
    if patience is not None:
        config = dataclasses.replace(config, patience=patience)
        changes["patience"] = patience
    state, config = open_run(run_dir, config, resume, changes)

    if config.seed is not None:
        keras.utils.set_random_seed(config.seed + (state or {}).get("epoch", 0))
    init_model = None
    if state is None and config.init_from is not None:
        from keras_htr.finetune import load_init_model

        init_model = load_init_model(config.init_from)  # a wrong file fails before the data
    train_set, val_set, charset = _load_data(config)
    with scope():
        if state is not None:
            model = keras.models.load_model(run_dir / state["checkpoint"])
            charset = model.charset
            preprocess_config = model.preprocess_config
        elif init_model is not None:
            from keras_htr.finetune import initial_model

            model = initial_model(init_model, list(train_set) + list(val_set), config.alphabet, config.freeze)
            charset = model.charset
            preprocess_config = model.preprocess_config
            del init_model
        else:
            preprocess_config = PreprocessConfig(height=config.height)
            model = build_model(config.model, charset, preprocess_config)

    initial_epoch = (state or {}).get("epoch", 0)
    # Width buckets make the number of batches per pass unknown up front; epochs of a fixed
    # step count have a known size (and a progress bar with a total). Epoch E's batches depend
    # only on (seed, E), so a resumed run continues the data order instead of restarting it.
    steps = config.steps_per_epoch or steps_per_epoch(config, len(train_set))
    train_ds = make_dataset(
        train_set, charset, preprocess_config, batch_size=config.batch_size, training=True,
        augment=_augmentation(config), seed=config.seed, cache=config.cache,
        epoch=initial_epoch, steps_per_epoch=steps, deterministic=config.deterministic_augment,
    )
    if state is None:
        with scope():
            model.compile(optimizer=_optimizer(config, steps), jit_compile=config.jit_compile)

    keep_best = config.keep == "best"
    best_checkpoint = BestCheckpoint(
        run_dir / BEST_MODEL, monitor="val_cer", mode="min", save_best_only=keep_best
    )
    early_stopping = keras.callbacks.EarlyStopping(
        monitor="val_cer", mode="min", patience=config.patience if keep_best else config.epochs + 1
    )
    epoch_checkpoint = EpochCheckpoint(run_dir, best_checkpoint, early_stopping, state)
    if state is None and config.init_from is not None and len(val_set):
        start = evaluate(model, val_set, batch_size=config.batch_size)
        epoch_checkpoint.state["initial_val_cer"] = float(start.cer)
    callbacks = [
        # First: the others read its val_cer. It is the only pass over the validation lines.
        ErrorRateCallback(val_set, batch_size=config.batch_size),
        best_checkpoint,
        early_stopping,
        epoch_checkpoint,
        ScalarLogs(run_dir / "logs"),
        keras.callbacks.TerminateOnNaN(),
    ]
    if config.pull_to_start:
        callbacks.insert(0, PullToStart(config.pull_to_start, run_dir, resume=state is not None))
    if initial_epoch < config.epochs:
        model.fit(
            train_ds,
            epochs=config.epochs,
            initial_epoch=initial_epoch,
            steps_per_epoch=steps,
            shuffle=False,  # the dataset orders the lines itself, by (seed, epoch)
            callbacks=callbacks,
            verbose=config.verbose,
        )
    return TrainResult.of_run(run_dir, epoch_checkpoint.state)


__all__ = [
    "KEEP_CHOICES", "START_WEIGHTS_FILE", "BestCheckpoint", "EpochCheckpoint", "PullToStart", "ScalarLogs", "TrainConfig", "TrainResult",
    "hold_out", "is_finite", "read_state", "steps_per_epoch", "train",
]  # fmt: skip

"""Train a line recognizer with CTC.

Writes to RUN_DIR: best.keras (the run's model: lowest validation CER, or with --keep last the
last epoch's), last.keras and state.json (after every
epoch, for --resume), train_config.json and TensorBoard logs in logs/. A run killed at any
moment, even with SIGKILL, continues with `--resume` from its last finished epoch.

Fine-tuning: `--init-from MODEL|shipped` starts from a trained line model; `--alphabet`
resizes its output layer, and options left unset take the fine-tuning defaults. Without
`--val`, a tenth of the training lines is held out for validation.
"""

from __future__ import annotations

import argparse
import json
import sys

from keras_htr.finetune import FINETUNE_DEFAULTS

# Defaults shown in --help: TrainConfig's (keras-free to read here) and the fine-tuning ones.
_SCRATCH = {"epochs": 30, "batch_size": 16, "learning_rate": 1e-3, "patience": 8, "keep": "best"}
_FINE = FINETUNE_DEFAULTS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--train", metavar="DATA", help="training data (folder + .gt.txt, IAM, PAGE XML, ALTO)")
    parser.add_argument(
        "--val", metavar="DATA",
        help="validation data (picks the best model, stops early); default: hold out a tenth of --train",
    )
    parser.add_argument("--out", metavar="RUN_DIR", required=True, help="run directory")
    parser.add_argument("--arch", choices=("crnn", "mdlstm"), help="architecture (default crnn)")
    parser.add_argument(
        "--model-config", metavar="JSON",
        help="file with a ModelConfig (sizes of the architectures); --arch overrides its arch",
    )
    parser.add_argument(
        "--init-from", metavar="MODEL|shipped",
        help="fine-tune: start from this .keras line model, or from the shipped one",
    )
    parser.add_argument(
        "--alphabet", choices=("union", "new", "keep"), default="union",
        help="with --init-from: the model's symbols plus the labels' (union, default), the "
        "labels' only (new), or the model's only (keep: other symbols are an error)",
    )
    parser.add_argument(
        "--freeze", choices=("encoder",),
        help="with --init-from: keep the convolutional encoder fixed, train the rest",
    )
    parser.add_argument(
        "--pull-to-start", type=float, metavar="STRENGTH",
        help="with --init-from: pull every weight back toward its starting value after each "
        "step, by learning rate x STRENGTH x the distance (L2-SP) "
        f"(default {_FINE['pull_to_start']:g}; 0 turns it off)",
    )
    parser.add_argument("--epochs", type=int, help=f"last epoch (default {_SCRATCH['epochs']}; fine-tuning {_FINE['epochs']})")
    parser.add_argument("--batch-size", type=int, help=f"lines per batch (default {_SCRATCH['batch_size']}; fine-tuning {_FINE['batch_size']})")
    parser.add_argument("--lr", type=float, help=f"peak learning rate (default {_SCRATCH['learning_rate']:g}; fine-tuning {_FINE['learning_rate']:g})")
    parser.add_argument("--weight-decay", type=float, default=1e-4, help="AdamW weight decay (default 1e-4)")
    parser.add_argument("--clipnorm", type=float, default=5.0, help="clip the global norm of all gradients together to this (default 5)")
    parser.add_argument("--patience", type=int, help=f"early-stopping patience in epochs (default {_SCRATCH['patience']}; fine-tuning {_FINE['patience']})")
    parser.add_argument(
        "--keep", choices=("best", "last"),
        help="which epoch RUN_DIR/best.keras holds: the lowest validation CER, stopping early "
        "(best), or the last of the whole schedule (last: for a validation set of a few lines, "
        f"too noisy to pick by) (default {_SCRATCH['keep']}; fine-tuning {_FINE['keep']})",
    )
    parser.add_argument("--height", type=int, default=32, help="line height in pixels (default 32)")
    parser.add_argument(
        "--steps-per-epoch", type=int,
        help=f"batches per epoch (default: one pass over the training set; fine-tuning: "
        f"{_FINE['passes_per_epoch']:g} passes, at most {_FINE['max_steps_per_epoch']} batches)",
    )
    parser.add_argument("--no-augment", action="store_true", help="train without augmentation")
    parser.add_argument(
        "--augment-strength", type=float, metavar="S",
        help="scale every distortion of the augmentation: 0 none, up to where the distortions' "
        f"probabilities reach 1 (default 1; fine-tuning {_FINE['augment_strength']:g})",
    )
    parser.add_argument(
        "--jit-compile", action="store_true",
        help="compile the training step with XLA (off by default: slower on CPU, see README)",
    )
    parser.add_argument(
        "--seed", type=int, default=0,
        help="random seed of the weights, the line order of each epoch and augmentation (default 0)",
    )
    parser.add_argument(
        "--deterministic-augment", action="store_true",
        help="augment in order on one core so a seeded run repeats exactly (default: in parallel, faster)",
    )
    parser.add_argument(
        "--resume", action="store_true",
        help="continue the run in --out from its last epoch, with its stored settings; only "
        "--epochs and --patience may change",
    )
    parser.add_argument(
        "--strategy", choices=("mirrored", "multiworker"),
        help="train on several devices: mirrored (this machine's GPUs, or its logical CPUs) or "
        "multiworker (machines described by TF_CONFIG); --batch-size is then the global batch",
    )
    parser.add_argument(
        "--quiet", action="store_true",
        help="one line per epoch instead of a progress bar (the default when the output is not "
        "a terminal, e.g. a log file: a progress bar there is thousands of redraws on one line)",
    )


def keras_verbosity(quiet: bool) -> int:
    """Keras' fit verbosity: a progress bar on a terminal, one line per epoch otherwise (a log
    file, a pipe) or with --quiet."""
    terminal = hasattr(sys.stdout, "isatty") and sys.stdout.isatty()
    return 2 if quiet or not terminal else 1


def _error(message: str) -> int:
    import sys

    print(f"keras-htr train: error: {message}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    from keras_htr.models.config import ModelConfig

    if not args.resume and not args.train:
        return _error("--train is required (except with --resume)")
    if args.init_from is None and (args.alphabet != "union" or args.freeze or args.pull_to_start):
        return _error("--alphabet, --freeze and --pull-to-start apply to fine-tuning: give --init-from")
    try:
        model_config = {}
        if args.model_config:
            with open(args.model_config, encoding="utf-8") as f:
                model_config = json.load(f)
        if args.arch:
            model_config["arch"] = args.arch
        model_config = ModelConfig.from_config(model_config)
    except (OSError, ValueError, TypeError) as e:
        return _error(f"--model-config: {e}")

    from keras_htr.training import TrainConfig, read_state, train

    given = {
        "epochs": args.epochs, "batch_size": args.batch_size, "learning_rate": args.lr,
        "patience": args.patience, "keep": args.keep, "pull_to_start": args.pull_to_start,
        "augment_strength": args.augment_strength,
    }
    options = {k: v for k, v in given.items() if v is not None}
    if args.init_from is not None:
        options = {**FINETUNE_DEFAULTS, **options}
        options.pop("augment")  # --no-augment decides
    try:
        config = TrainConfig(
            train=args.train or "", val=args.val, out=args.out, model=model_config,
            height=args.height, weight_decay=args.weight_decay, clipnorm=args.clipnorm,
            augment=not args.no_augment, jit_compile=args.jit_compile,
            steps_per_epoch=args.steps_per_epoch, seed=args.seed,
            deterministic_augment=args.deterministic_augment, verbose=keras_verbosity(args.quiet),
            init_from=args.init_from, alphabet=args.alphabet, freeze=args.freeze,
            strategy=args.strategy, **options,
        )
    except ValueError as e:
        return _error(str(e))
    if args.resume and read_state(args.out) is None and not args.train:
        return _error(f"nothing to resume in {args.out}: no finished epoch; give --train")
    try:
        result = train(config, resume=args.resume, patience=args.patience)
    except (FileExistsError, FileNotFoundError, ValueError) as e:
        return _error(str(e))
    cer = "n/a" if result.best_val_cer is None else f"{result.best_val_cer:.4f}"
    start = "" if result.initial_val_cer is None else f"val CER before fine-tuning: {result.initial_val_cer:.4f}; "
    print(f"epochs done: {result.epochs_done}; {start}best val CER: {cer}; best model: {result.best_model}")
    return 0

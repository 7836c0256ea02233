"""Train the paragraph model (vertical attention over a line model's encoder).

Writes to RUN_DIR, like `keras-htr train`: best.keras (lowest validation CER over paragraphs),
last.keras and state.json after every epoch (continue with --resume), paragraph_config.json and
TensorBoard logs in logs/. Data: folders of paragraph images with a `.gt.txt` holding one line of
text per image line (`keras-htr synth --paragraphs N` writes them), or PAGE XML TextRegions, at a
line pitch of about 40 px.
"""

from __future__ import annotations

import argparse
import sys

from keras_htr.cli.train import keras_verbosity


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--train", metavar="DATA", nargs="+", help="training paragraphs (folders or PAGE XML)")
    parser.add_argument("--val", metavar="DATA", nargs="+", help="validation paragraphs")
    parser.add_argument("--out", metavar="RUN_DIR", required=True, help="run directory")
    parser.add_argument(
        "--init-from", metavar="MODEL|shipped", default="shipped",
        help="CRNN line model whose encoder, BLSTMs and output layer start the model (default: shipped)",
    )
    parser.add_argument("--epochs", type=int, default=10, help="epochs (default 10)")
    parser.add_argument("--steps-per-epoch", type=int, default=200, help="batches per epoch (default 200)")
    parser.add_argument("--batch-size", type=int, default=4, help="paragraphs per batch (default 4)")
    parser.add_argument("--lr", type=float, default=3e-4, help="peak learning rate (default 3e-4)")
    parser.add_argument("--weight-decay", type=float, default=1e-4, help="AdamW weight decay; 0 = Adam")
    parser.add_argument(
        "--curriculum", default="2,4,8,15", metavar="N,N,...",
        help="most lines per paragraph at epochs 1, 2, ...; the last holds after (default 2,4,8,15)",
    )
    parser.add_argument("--max-val", type=int, default=100, help="validation paragraphs used (default 100)")
    parser.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    parser.add_argument("--resume", action="store_true", help="continue the run in RUN_DIR")
    parser.add_argument(
        "--quiet", action="store_true",
        help="one log line per epoch (the default when the output is not a terminal)",
    )


def _error(message: str) -> int:
    print(f"keras-htr train-paragraph: error: {message}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    from keras_htr.paragraph_training import ParagraphTrainConfig, train_paragraph
    from keras_htr.training import read_state

    resuming = args.resume and read_state(args.out) is not None
    if not resuming and (not args.train or not args.val):
        return _error("--train and --val are required (except with --resume)")
    try:
        curriculum = [int(c) for c in args.curriculum.split(",")]
        config = ParagraphTrainConfig(
            train=args.train or ["-"], val=args.val or ["-"], out=args.out, init_from=args.init_from,
            epochs=args.epochs, steps_per_epoch=args.steps_per_epoch, batch_size=args.batch_size,
            learning_rate=args.lr, weight_decay=args.weight_decay, curriculum=curriculum,
            max_val=args.max_val, seed=args.seed, verbose=keras_verbosity(args.quiet),
        )
        result = train_paragraph(config, resume=args.resume)
    except (ValueError, FileExistsError, FileNotFoundError) as e:
        return _error(str(e))
    print(f"epochs done: {result.epochs_done}; best val CER: {result.best_val_cer}; "
          f"best model: {result.best_model}")
    return 0

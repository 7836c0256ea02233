"""`keras-htr` command line: one module per subcommand, imported only when used.

Each subcommand module exposes `add_arguments(parser)` and `run(args) -> int`
and imports TensorFlow inside `run`, so `keras-htr --help` stays instant.

Our commands' stderr holds their own progress and errors only: before a command that uses
TensorFlow runs, `quiet_tensorflow` keeps TensorFlow's native log lines off it, unless the user
has set `TF_CPP_MIN_LOG_LEVEL` (e.g. `TF_CPP_MIN_LOG_LEVEL=0 keras-htr transcribe ...`).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
import tempfile

# name -> (module, one-line help, whether the command imports TensorFlow)
SUBCOMMANDS = {
    "transcribe": ("keras_htr.cli.transcribe", "transcribe line images with a trained model", True),
    "train": ("keras_htr.cli.train", "train a line recognizer with CTC", True),
    "train-paragraph": (
        "keras_htr.cli.train_paragraph", "train the paragraph model (vertical attention)", True,
    ),
    "evaluate": ("keras_htr.cli.evaluate", "CER and WER of a model on a dataset", True),
    "export": ("keras_htr.cli.export", "export a model for TF Serving or TFLite", True),
    "dataset": ("keras_htr.cli.dataset", "summarise a dataset and report unreadable files", False),
    "synth": ("keras_htr.cli.synth", "generate synthetic handwriting lines", False),
    "demo": ("keras_htr.cli.demo", "run an MDLSTM layer on a random image", True),
    "lm": ("keras_htr.cli.lm", "build an n-gram language model for decoding", False),
    "index": ("keras_htr.cli.index", "build a probabilistic keyword index of line images", True),
    "search": ("keras_htr.cli.search", "search a keyword index by word", False),
    "batch": ("keras_htr.cli.batch", "transcribe many images on Apache Beam into JSONL shards", True),
}
#: TensorFlow's C++ log level variable: 0 shows everything, 3 only fatal errors.
TF_LOG_LEVEL_ENV = "TF_CPP_MIN_LOG_LEVEL"


@contextlib.contextmanager
def _native_stderr_caught():
    """Point file descriptor 2 at a temporary file (what C++ libraries write to stderr goes
    there, not to the terminal); yields the file."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with tempfile.TemporaryFile() as caught:
            os.dup2(caught.fileno(), 2)
            try:
                yield caught
            finally:
                sys.stderr.flush()
                os.dup2(saved, 2)
    finally:
        os.close(saved)


def quiet_tensorflow() -> None:
    """Import TensorFlow without its native log lines, unless the user chose a log level.

    On a machine without a GPU, TensorFlow prints lines about CUDA, oneDNN, absl and CPU
    instructions: noise to a user of a command. `TF_CPP_MIN_LOG_LEVEL` governs its C++ logging,
    but several of those lines are printed while the libraries load, before that logging is set
    up; so when the variable is unset this sets it to 3 (fatal errors only) and imports
    TensorFlow with file descriptor 2 caught. If the import fails, what was caught is printed.
    A user-set `TF_CPP_MIN_LOG_LEVEL` is left alone, and TensorFlow then logs as it is told.
    """
    if os.environ.get(TF_LOG_LEVEL_ENV, "").strip() or "tensorflow" in sys.modules:
        return  # the user chose a level (an empty value chooses nothing), or it is too late
    os.environ[TF_LOG_LEVEL_ENV] = "3"
    error, text = None, ""
    with _native_stderr_caught() as caught:
        try:
            import tensorflow  # noqa: F401
        except BaseException as e:  # shown with what TensorFlow printed before it failed
            error = e
            caught.seek(0)
            text = caught.read().decode("utf-8", errors="replace")
    if error is not None:
        sys.stderr.write(text)
        raise error


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="keras-htr", description="Handwritten text recognition with Keras."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, (module_name, help_text, uses_tensorflow) in SUBCOMMANDS.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as e:
            if e.name != module_name:
                raise
            continue  # subcommand not built yet
        p = sub.add_parser(name, help=help_text, description=(module.__doc__ or help_text))
        module.add_arguments(p)
        p.set_defaults(_run=module.run, _uses_tensorflow=uses_tensorflow,
                       _pass_through=getattr(module, "PASS_THROUGH", False))
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # A command with PASS_THROUGH (batch) gets the options it does not know (Beam's) in
    # `args.pass_through`; for the others they are an error, as with parse_args.
    if extra and not args._pass_through:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.pass_through = extra
    if args._uses_tensorflow:
        quiet_tensorflow()
    return int(args._run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())

"""`keras-htr` command line: one module per subcommand, imported only when used.

Each subcommand module exposes `add_arguments(parser)` and `run(args) -> int`
and imports TensorFlow inside `run`, so `keras-htr --help` stays instant.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# name -> (module, one-line help)
SUBCOMMANDS = {
    "transcribe": ("keras_htr.cli.transcribe", "transcribe line images with a trained model"),
    "train": ("keras_htr.cli.train", "train a line recognizer with CTC"),
    "evaluate": ("keras_htr.cli.evaluate", "CER and WER of a model on a dataset"),
    "export": ("keras_htr.cli.export", "export a model for TF Serving or TFLite"),
    "dataset": ("keras_htr.cli.dataset", "summarise a dataset and report unreadable files"),
    "synth": ("keras_htr.cli.synth", "generate synthetic handwriting lines"),
    "demo": ("keras_htr.cli.demo", "run an MDLSTM layer on a random image"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="keras-htr", description="Handwritten text recognition with Keras."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as e:
            if e.name != module_name:
                raise
            continue  # subcommand not built yet
        p = sub.add_parser(name, help=help_text, description=(module.__doc__ or help_text))
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args._run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())

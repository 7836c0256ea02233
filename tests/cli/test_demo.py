"""`keras-htr demo`: the function and the command line."""

import subprocess
import sys

import numpy as np
from PIL import Image

from keras_htr.cli import demo
from keras_htr.cli.main import build_parser


def parse(argv):
    return build_parser().parse_args(["demo", *argv])


def test_demo_on_an_image_prints_shapes(tmp_path, capsys):
    path = tmp_path / "line.png"
    Image.fromarray(np.full((20, 50), 255, np.uint8)).save(path)
    args = parse([str(path), "--height", "8", "--units", "2", "--repeats", "1"])
    assert demo.run(args) == 0
    out = capsys.readouterr().out
    # 50x20 resized to height 8 keeps the aspect ratio: width 20; 4 directions x 2 units.
    assert "mdlstm (1, 8, 20, 8) -> collapse (1, 20, 8)" in out
    assert "wavefront steps 27" in out


def test_demo_rejects_bad_arguments(tmp_path, capsys):
    assert demo.run(parse(["--units", "0"])) == 2
    assert "`--units`" in capsys.readouterr().err
    assert demo.run(parse(["missing.png"])) == 2
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"not an image")
    assert demo.run(parse([str(corrupt)])) == 2
    assert str(corrupt) in capsys.readouterr().err


def test_demo_uses_the_layers_default_cell():
    from keras_htr.layers import MDLSTM2D

    assert parse([]).cell == MDLSTM2D(1).cell


def test_demo_command_line_help():
    proc = subprocess.run(
        [sys.executable, "-m", "keras_htr.cli.main", "demo", "-h"], capture_output=True, text=True
    )
    assert proc.returncode == 0 and "--directions" in proc.stdout

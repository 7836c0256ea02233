import numpy as np
import pytest
from PIL import Image

from keras_htr.cli.main import main


def test_synth_command(tmp_path, capsys):
    assert main(["synth", "--list-fonts"]) == 0
    assert "caveat" in capsys.readouterr().out.split()
    out = tmp_path / "synth"
    assert main(["synth", "--out", str(out), "--lines", "3", "--kind", "text", "--fonts", "kalam", "--seed", "4", "--quiet"]) == 0
    assert len(list(out.glob("*.png"))) == 3 and len(list(out.glob("*.gt.txt"))) == 3
    assert "3 lines written" in capsys.readouterr().out
    assert main(["synth", "--out", str(out), "--lines", "2", "--exclude-fonts", "nope", "--quiet"]) == 2
    assert "nope" in capsys.readouterr().err
    assert main(["synth", "--lines", "2"]) == 2  # --out missing
    with pytest.raises(SystemExit):
        main(["synth", "--kind", "poetry"])


def test_dataset_command_reports_lines_alphabet_and_errors(tmp_path, capsys):
    img = np.full((20, 60), 255, np.uint8)
    img[5:15, 10:50] = 0
    Image.fromarray(img).save(tmp_path / "a.png")
    (tmp_path / "a.gt.txt").write_text("abba")
    (tmp_path / "bad.png").write_bytes(b"not an image")
    (tmp_path / "bad.gt.txt").write_text("x")
    assert main(["dataset", str(tmp_path), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "lines:       1" in out and "unreadable:  1" in out and "bad.png" in out
    assert main(["dataset", str(tmp_path / "missing")]) == 2

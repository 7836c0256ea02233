import json

import pytest

from keras_htr.cli.main import main
from keras_htr.decoders.ngram import read_header
from keras_htr.transcriber import load_transcriber

pytest.importorskip("flashlight.lib.text.decoder")


@pytest.fixture(scope="module")
def lm_file(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lm")
    (folder / "corpus.txt").write_text("abc cab\nbca a\nab ba\ncab abc\n" * 3, encoding="utf-8")
    out = folder / "lm.arpa.gz"
    assert main(["lm", "build", str(folder / "corpus.txt"), "--order", "4", "--out", str(out)]) == 0
    return out


def test_lm_build_writes_a_model_and_refuses_bad_input(lm_file, tmp_path, capsys):
    assert read_header(lm_file)["order"] == 4
    assert main(["lm", "build", str(tmp_path / "absent.txt"), "--out", str(tmp_path / "x.arpa")]) == 2
    assert "No corpus file" in capsys.readouterr().err
    (tmp_path / "c.txt").write_text("ab\n")
    assert main(["lm", "build", str(tmp_path / "c.txt"), "--order", "1", "--out", str(tmp_path / "x.arpa")]) == 2
    assert "argument `order`" in capsys.readouterr().err


def test_transcribe_and_evaluate_decode_with_the_lm(model_path, line_folder, lm_file, texts, capsys):
    transcriber = load_transcriber(model_path)
    paths = [str(line_folder / f"line{i}.png") for i in range(len(texts))]
    want = [r.text for r in transcriber.transcribe(paths, lm=str(lm_file))]
    assert main(["transcribe", "--quiet", "--format", "jsonl", "--model", str(model_path),
                 "--lm", str(lm_file), *paths]) == 0
    got = [json.loads(line)["text"] for line in capsys.readouterr().out.splitlines()]
    assert got == want

    from keras_htr.data import read_dataset
    from keras_htr.evaluation import evaluate

    expected = evaluate(transcriber, read_dataset(str(line_folder)), lm=str(lm_file))
    assert main(["evaluate", "--json", "--model", str(model_path), "--lm", str(lm_file), str(line_folder)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["cer"] == pytest.approx(expected.cer) and result["wer"] == pytest.approx(expected.wer)


def test_a_file_that_is_not_an_lm_is_a_clear_error(model_path, line_folder, tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("hello\n")
    for command in ("transcribe", "evaluate"):
        assert main([command, "--model", str(model_path), "--lm", str(tmp_path / "notes.txt"), str(line_folder)]) == 2
        err = capsys.readouterr().err
        assert "notes.txt: not an ARPA language model" in err and "Traceback" not in err

"""`transcribe` and `evaluate` decode with a word model, a model pair and a lexicon, as the
Python API does; bad combinations and files get a clear error and exit status 2."""

import json

import pytest
from tiny_lines import TEXTS, TINY_CRNN, write_lines

from keras_htr.charset import Charset
from keras_htr.cli.main import main
from keras_htr.decoders.ngram import estimate_arpa, write_lm

pytest.importorskip("flashlight.lib.text.decoder")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    import keras

    from keras_htr.models import build_model

    folder = tmp_path_factory.mktemp("flags")
    keras.utils.set_random_seed(1)
    model = folder / "tiny.keras"
    build_model(TINY_CRNN, Charset.from_texts(TEXTS)).save(model)
    lines = write_lines(folder / "lines", TEXTS)
    char = write_lm(estimate_arpa(TEXTS * 3, order=4), folder / "char.arpa")
    words = write_lm(estimate_arpa(TEXTS * 3, order=2, unit="word"), folder / "words.arpa.gz")
    lexicon = folder / "lexicon.txt"
    lexicon.write_text("abc\ncab\nab\n")
    return model, lines, char, words, lexicon


def test_the_flags_decode_like_the_python_api(setup, capsys):
    from keras_htr.data import read_dataset
    from keras_htr.decoders.lm import LMDecoder
    from keras_htr.evaluation import evaluate
    from keras_htr.transcriber import load_transcriber

    model, lines, char, words, lexicon = setup
    transcriber = load_transcriber(model)
    paths = [str(lines / f"line{i}.png") for i in range(len(TEXTS))]
    decoder = LMDecoder(char, transcriber.charset, lexicon=lexicon, oov_penalty=-1.5, alpha=1.0)
    want = [r.text for r in transcriber.transcribe(paths, lm=decoder)]
    assert main(["transcribe", "--quiet", "--format", "jsonl", "--model", str(model), "--lm", str(char),
                 "--lexicon", str(lexicon), "--oov-penalty", "-1.5", "--alpha", "1", *paths]) == 0
    assert [json.loads(line)["text"] for line in capsys.readouterr().out.splitlines()] == want

    decoder = LMDecoder((words, char), transcriber.charset, beta=0.5)
    expected = evaluate(transcriber, read_dataset(str(lines)), lm=decoder)
    assert main(["evaluate", "--json", "--model", str(model), "--lm", str(words), "--lm", str(char),
                 "--beta", "0.5", str(lines)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["cer"] == pytest.approx(expected.cer) and result["wer"] == pytest.approx(expected.wer)


def test_bad_flags_and_files_are_clear_errors(setup, tmp_path, capsys):
    model, lines, char, words, lexicon = setup
    (tmp_path / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    cases = [
        (["--lexicon", str(lexicon)], "--lexicon needs a language model"),
        (["--lm", str(char), "--lexicon", str(char)], "not a lexicon but an ARPA language model"),
        (["--lm", str(char), "--lexicon", str(tmp_path / "image.png")], "image.png: not a lexicon"),
        (["--lm", str(lexicon)], "lexicon.txt: not an ARPA language model"),
        (["--lm", str(words), "--lm", str(words)], "at most one word model"),
        (["--lm", str(char), "--oov-penalty", "3"], "argument `oov_penalty`"),
    ]
    # the flags are one helper: each command tried on a part of the cases, to keep this fast
    for command, flags, message in [("transcribe", *c) for c in cases] + [("evaluate", *cases[1])]:
        assert main([command, "--model", str(model), *flags, str(lines)]) == 2, flags
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, (flags, err)

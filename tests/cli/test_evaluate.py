import json

from keras_htr.cli.main import main
from keras_htr.transcriber import load_transcriber


def levenshtein(a, b):
    """Textbook dynamic programme, independent of the library under test."""
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (x != y))
    return row[-1]


def test_json_numbers_match_hand_computed_rates(model_path, texts, make_line_folder, tmp_path, capsys):
    # References of different lengths, so the total-edits rate differs from a mean of rates.
    references = texts + ["a b c a b c a"]
    folder = make_line_folder(tmp_path / "data", references)
    hypotheses = [t.text for t in load_transcriber(model_path).transcribe(
        [str(folder / f"line{i}.png") for i in range(len(references))]
    )]
    cer = sum(levenshtein(r, h) for r, h in zip(references, hypotheses)) / sum(map(len, references))
    wer = sum(levenshtein(r.split(), h.split()) for r, h in zip(references, hypotheses)) / sum(
        len(r.split()) for r in references
    )

    mean_of_rates = sum(levenshtein(r, h) / len(r) for r, h in zip(references, hypotheses)) / len(references)
    assert abs(mean_of_rates - cer) > 1e-3  # else this test could not tell the two apart

    assert main(["evaluate", "--json", "--model", str(model_path), str(folder)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["lines"] == len(references)
    assert abs(result["cer"] - cer) < 1e-9 and abs(result["wer"] - wer) < 1e-9


def test_text_report_and_bad_arguments(model_path, texts, line_folder, tmp_path, capsys):
    assert main(["evaluate", "--model", str(model_path), str(line_folder)]) == 0
    out = capsys.readouterr().out
    assert "CER:" in out and "WER:" in out and f"lines: {len(texts)}" in out
    assert main(["evaluate", "--model", str(model_path), str(tmp_path / "missing")]) == 2
    assert main(["evaluate", "--beam", "0", str(line_folder)]) == 2

import json
import sqlite3

import pytest

from keras_htr.cli.main import main
from keras_htr.search import KeywordIndex


@pytest.fixture(scope="module")
def index_file(model_path, line_folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("index") / "lines.sqlite"
    assert main(["index", "--quiet", "--model", str(model_path), "--min-probability", "0",
                 str(line_folder), "--out", str(out)]) == 0
    return out


def test_search_prints_rows_best_first_as_the_library_does(index_file, capsys):
    word = sqlite3.connect(index_file).execute(
        "SELECT word FROM postings ORDER BY probability DESC LIMIT 1").fetchone()[0]
    assert main(["search", "--index", str(index_file), "--format", "jsonl", word.upper()]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rows and set(rows[0]) == {"query", "path", "probability", "position", "text"}
    with KeywordIndex(index_file) as index:
        hits = index.search(word)
    assert [(r["path"], r["probability"]) for r in rows] == [(h.path, round(h.probability, 6)) for h in hits]
    threshold = rows[0]["probability"] - 1e-5  # printed rounded to 6 places
    assert main(["search", "--index", str(index_file), "--min-probability", str(threshold), word]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines and all(float(line.split("\t")[0]) >= threshold - 1e-4 for line in lines)


@pytest.mark.parametrize("query,message", [(" ", "empty query"), ("abz", "outside")])
def test_bad_queries_and_indexes_exit_2_with_a_reason(index_file, tmp_path, capsys, query, message):
    assert main(["search", "--index", str(index_file), query]) == 2
    assert message in capsys.readouterr().err
    assert main(["search", "--index", str(tmp_path / "absent.sqlite"), "ab"]) == 2
    assert "No index file" in capsys.readouterr().err
    (tmp_path / "bad.sqlite").write_bytes(b"\x00garbage" * 300)
    assert main(["search", "--index", str(tmp_path / "bad.sqlite"), "ab"]) == 2
    assert "not a keras-htr keyword index" in capsys.readouterr().err


def test_index_reports_unreadable_images(model_path, line_folder, tmp_path, capsys):
    (tmp_path / "broken.png").write_bytes(b"not an image")
    status = main(["index", "--quiet", "--model", str(model_path), str(line_folder / "line0.png"),
                   str(tmp_path / "broken.png"), "--out", str(tmp_path / "i.sqlite")])
    assert status == 1 and "not indexed:" in capsys.readouterr().err
    with KeywordIndex(tmp_path / "i.sqlite") as index:
        assert len(index) == 1

"""Batch transcription on Apache Beam (DirectRunner, 2 workers): same texts as `transcribe`,
bad inputs as error rows, one row per input, and outputs that never mix two runs."""

import glob
import json
import os
import shutil
from pathlib import Path

import pytest

beam = pytest.importorskip("apache_beam")

from keras_htr.beam import (
    LineModelHandler,
    TranscribeImages,
    existing_shards,
    prepare_output,
    read_rows,
)
from keras_htr.cli.main import main

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted(glob.glob(str(ROOT / "examples" / "lines" / "*.png")))
SAVEDMODEL = ROOT / "saved_models" / "htr_line" / "1"
TWO_WORKERS = ["--direct_num_workers=2", "--direct_running_mode=multi_threading"]


@pytest.fixture(scope="module")
def transcriber():
    from keras_htr.transcriber import load_transcriber

    return load_transcriber()


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """The sample lines, a corrupt image among them, and a path that does not exist."""
    folder = tmp_path_factory.mktemp("images")
    for path in EXAMPLES:
        shutil.copy(path, folder)
    (folder / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    return folder, folder / "missing.png"


@pytest.fixture(scope="module")
def batch_run(images, tmp_path_factory):
    """`keras-htr batch` with 2 DirectRunner workers: the good lines listed in a file (with a
    blank line), the corrupt image and the missing path on the command line."""
    folder, missing = images
    work = tmp_path_factory.mktemp("out")
    listed = work / "inputs.txt"
    listed.write_text("".join(f"{folder / os.path.basename(p)}\n" for p in EXAMPLES) + "\n")
    output = work / "shards"
    code = main(["batch", "--inputs-from", str(listed), str(folder / "corrupt.png"), str(missing),
                 "--output", str(output), "--num-shards", "2", *TWO_WORKERS])
    return code, output


def test_batch_texts_are_those_of_transcribe(images, batch_run, transcriber):
    folder, _ = images
    _, output = batch_run
    rows = {row["path"]: row for row in read_rows(str(output))}
    good = [str(folder / os.path.basename(p)) for p in EXAMPLES]
    expected = transcriber.transcribe(good)
    assert len(expected) == 8
    for result in expected:
        row = rows[result.source]
        assert row["error"] is None
        assert row["text"] == result.text
        assert row["score"] == pytest.approx(result.score, abs=1e-5)


def test_bad_inputs_are_error_rows_and_the_rest_is_transcribed(images, batch_run):
    folder, missing = images
    code, output = batch_run
    assert code == 1  # like `transcribe`: some input failed
    rows = read_rows(str(output))
    assert sorted(r["path"] for r in rows) == sorted(
        [str(folder / os.path.basename(p)) for p in EXAMPLES]
        + [str(folder / "corrupt.png"), str(missing)]
    )  # one row per input: none lost, none twice
    by_path = {r["path"]: r for r in rows}
    corrupt = by_path[str(folder / "corrupt.png")]
    assert corrupt["text"] == "" and corrupt["error"].startswith(f"{folder / 'corrupt.png'}: ")
    assert "BytesIO" not in corrupt["error"]  # the same message on a retry
    assert by_path[str(missing)]["error"] == f"{missing}: no such file"
    assert sum(r["error"] is None for r in rows) == 8
    assert len(existing_shards(str(output))) == 2
    assert all(set(r) == {"path", "text", "score", "error"} for r in rows)


def test_rerun_into_the_same_output_is_refused(images, batch_run, capsys):
    folder, _ = images
    _, output = batch_run
    before = {p: Path(p).read_bytes() for p in existing_shards(str(output))}
    code = main(["batch", str(folder), "--output", str(output), *TWO_WORKERS])
    assert code == 2
    err = capsys.readouterr().err
    assert "already holds 2 shard(s)" in err and "--overwrite" in err
    assert {p: Path(p).read_bytes() for p in existing_shards(str(output))} == before


def test_overwrite_deletes_every_old_shard_first(tmp_path):
    # A later run with fewer shards would otherwise leave old shard 3 of 4 beside new ones.
    for i in range(4):
        (tmp_path / f"transcriptions-{i:05d}-of-00004.jsonl").write_text("{}\n")
    (tmp_path / "notes.txt").write_text("kept")
    with pytest.raises(FileExistsError, match="4 shard"):
        prepare_output(str(tmp_path))
    prepare_output(str(tmp_path), overwrite=True)
    assert existing_shards(str(tmp_path)) == []
    assert (tmp_path / "notes.txt").read_text() == "kept"


def test_unwritable_output_gets_a_clear_message(images, tmp_path, capsys):
    folder, _ = images
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    code = main(["batch", str(folder), "--output", str(blocker / "out"), *TWO_WORKERS])
    assert code == 2
    assert f"cannot write to the output directory {blocker / 'out'}" in capsys.readouterr().err


def test_beam_options_must_be_name_value(images, tmp_path, capsys):
    folder, _ = images
    code = main(["batch", str(folder), "--output", str(tmp_path / "o"), "--direct_num_workers", "2"])
    assert code == 2
    assert "--name=value" in capsys.readouterr().err


def test_transform_in_a_users_pipeline_with_a_savedmodel(images, transcriber):
    """`TranscribeImages` in a pipeline of one's own, here with the exported SavedModel."""
    from apache_beam.testing.util import assert_that

    folder, _ = images
    paths = [str(folder / os.path.basename(p)) for p in EXAMPLES[:3]] + [str(folder / "corrupt.png")]
    expected = {r.source: r.text for r in transcriber.transcribe(paths[:3])}

    def check(rows):
        got = {r["path"]: r for r in rows}
        assert {p: got[p]["text"] for p in paths[:3]} == expected
        assert got[paths[3]]["error"].startswith(f"{paths[3]}: ")

    with beam.Pipeline() as p:
        rows = p | beam.Create(paths) | TranscribeImages(str(SAVEDMODEL))
        assert_that(rows, check)


def test_handler_refuses_bad_arguments():
    with pytest.raises(ValueError, match="batch_size"):
        LineModelHandler(batch_size=0)
    with pytest.raises(ValueError, match="min_batch_size, max_batch_size"):
        LineModelHandler(min_batch_size=64, max_batch_size=8)
    with pytest.raises(ValueError, match="a .keras file or a SavedModel"):
        LineModelHandler(str(ROOT / "saved_models" / "htr_line.tflite"))


def test_rows_are_json_lines(batch_run):
    _, output = batch_run
    for shard in existing_shards(str(output)):
        for line in Path(shard).read_text(encoding="utf-8").splitlines():
            assert json.loads(line)["path"]


def test_inputs_are_folders_patterns_or_paths(images):
    folder, missing = images
    from keras_htr.beam import expand_inputs

    names = sorted(os.path.basename(p) for p in EXAMPLES)
    assert [os.path.basename(p) for p in expand_inputs([str(folder)])] == sorted(names + ["corrupt.png"])
    assert [os.path.basename(p) for p in expand_inputs([str(folder / "digits-*.png")])] == [
        n for n in names if n.startswith("digits-")]
    assert expand_inputs([str(missing)]) == [str(missing)]  # kept: it gets its error row


def test_other_commands_still_refuse_unknown_options(capsys):
    # `batch` hands unknown options to Beam; every other command rejects them as before.
    with pytest.raises(SystemExit) as exit_info:
        main(["transcribe", "x.png", "--direct_num_workers=2"])
    assert exit_info.value.code == 2
    assert "unrecognized arguments: --direct_num_workers=2" in capsys.readouterr().err

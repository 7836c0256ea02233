"""Batch transcription on Apache Beam: image paths in, JSONL rows of (path, text, score, error) out.

For archives too large for one process: the same model and preprocessing as
`keras-htr transcribe`, run by any Beam runner (DirectRunner on one machine, Dataflow, Flink,
Spark). Needs the `beam` extra (`pip install "htr-keras[beam]"`).

- `TranscribeImages`: a `PTransform` from a `PCollection` of paths (local or any Beam filesystem:
  `gs://`, `s3://`, `hdfs://`, ...) to one row dict per path, to put in your own pipelines.
- `LineModelHandler`: the `RunInference` model handler behind it (a `.keras` line model or an
  exported SavedModel). Beam's own TensorFlow handler does not fit: it loads models through
  `tf.keras.models.load_model` and stacks inputs with `numpy.stack`, which line images of
  different widths cannot go through. Here each batch is sorted by width and padded to width
  buckets (`keras_htr.data.pipeline.pad_batch`), as `Transcriber.transcribe` does.
- `run_batch`: the whole job of `keras-htr batch` (list inputs, check the output, run, count).

Bad input never fails a bundle: a missing or unreadable path, a corrupt image, a line too wide
become a row with `error` set, and the other paths are transcribed.

Retried bundles do not duplicate rows: `WriteToText` writes each bundle attempt to its own
temporary file and, when the pipeline finishes, renames only the files of the attempts the runner
committed; a failed attempt's file is deleted. Its rows come back from the retry, the same rows
because a row depends only on its image and the model: the model's width masks make a line's
logits independent of the batch it was padded into (so the text is the same; the score, rounded
to 6 decimals, agrees to float precision), and error messages name the path, never an address.

Example:

>>> import apache_beam as beam                                          # doctest: +SKIP
>>> with beam.Pipeline() as p:                                          # doctest: +SKIP
...     rows = (p | beam.Create(["a.png", "b.png"])
...               | TranscribeImages("run/best.keras"))
...     rows | beam.Map(print)
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Sequence

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.ml.inference.base import ModelHandler, PredictionResult, RunInference

from keras_htr.results import one_line

logger = logging.getLogger(__name__)

#: Keys of every output row, in order.
ROW_KEYS = ("path", "text", "score", "error")
#: Output shards are `OUTPUT/transcriptions-00000-of-00004.jsonl`.
SHARD_PREFIX = "transcriptions"
SHARD_SUFFIX = ".jsonl"
SHARD_TEMPLATE = "-SSSSS-of-NNNNN"
#: Namespace of the Beam counters (`lines`: rows written, `errors`: rows with an error).
METRICS_NAMESPACE = "keras_htr"
#: Characters that make an input a glob pattern for `FileSystems.match`.
_GLOB_CHARS = "*?["
_BYTES_IO = re.compile(r"<_io\.BytesIO object at 0x[0-9a-fA-F]+>")


def _local_copy(path: str) -> str:
    """`path` itself if it is on local disk, else a local copy (a model on `gs://` etc.)."""
    if os.path.exists(path):
        return path
    if not FileSystems.exists(path):
        raise FileNotFoundError(f"No model at {path}")
    target = os.path.join(tempfile.mkdtemp(prefix="keras-htr-model-"), os.path.basename(path.rstrip("/")))
    if path.endswith(".keras"):
        with FileSystems.open(path) as src, open(target, "wb") as dst:
            shutil.copyfileobj(src, dst)
        return target
    # A SavedModel directory: copy every file below it.
    base = path.rstrip("/") + "/"
    for meta in FileSystems.match([base + "**"])[0].metadata_list:
        local = os.path.join(target, meta.path[len(base):])
        os.makedirs(os.path.dirname(local), exist_ok=True)
        with FileSystems.open(meta.path) as src, open(local, "wb") as dst:
            shutil.copyfileobj(src, dst)
    return target


class SavedModelTranscriber:
    """Transcribes encoded images with a SavedModel from `keras-htr export --format savedmodel`.

    Its `serving_default` endpoint decodes, preprocesses and decodes greedily in the graph, so
    only TensorFlow is needed. Same interface as `Transcriber.transcribe` for this module.
    """

    def __init__(self, path: str):
        import tensorflow as tf

        self._run = tf.saved_model.load(path).signatures["serving_default"]

    def transcribe(self, images: Sequence[bytes], **_) -> list:
        import tensorflow as tf

        from keras_htr.results import Transcription, source_name

        out = self._run(image_bytes=tf.constant(list(images), tf.string))
        texts = out["text"].numpy()
        scores = out["score"].numpy()
        errors = out["error"].numpy()
        results = []
        for i, (text, score, error) in enumerate(zip(texts, scores, errors)):
            name = source_name(images[i], i)
            if error:
                results.append(Transcription(name, error=f"{name}: {error.decode('utf-8')}"))
            else:
                results.append(Transcription(name, text.decode("utf-8"), float(score)))
        return results


class LineModelHandler(ModelHandler):
    """`RunInference` handler for keras-htr line models: `(path, image bytes)` -> `Transcription`.

    Args:
        model_path: a `.keras` line model, or the version directory of an exported SavedModel
            (`saved_models/htr_line/1`), on local disk or any Beam filesystem (copied to the
            worker on load). None is the shipped model (the package must be installed on the
            workers). Defaults to None.
        batch_size: lines run through the model together, after sorting each Beam batch by
            width (the `batch_size` of `Transcriber.transcribe`). Defaults to 16.
        beam: 1 for greedy decoding, N > 1 for a beam search (`.keras` models only).
            Defaults to 1.
        min_batch_size, max_batch_size: how many elements Beam gathers per `run_inference`
            call; the more, the more alike the widths in each model batch (they are sorted by
            width before batching). With 16, Beam's batches held ~20 mixed-width lines and the
            DirectRunner ran at 0.62x the lines/s of `transcribe`; with 128 at 1.03x
            (`benchmarks/batch.py`). Defaults to 128, 512.
    """

    def __init__(self, model_path: str | None = None, batch_size: int = 16, beam: int = 1,
                 min_batch_size: int = 128, max_batch_size: int = 512):
        for name, value in (("batch_size", batch_size), ("beam", beam),
                            ("min_batch_size", min_batch_size), ("max_batch_size", max_batch_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(
                    f"Received an invalid value for argument `{name}`, expected a positive "
                    f"integer, got {value!r}"
                )
        if min_batch_size > max_batch_size:
            raise ValueError(
                f"Received an invalid value for arguments `min_batch_size, max_batch_size`, "
                f"expected min <= max, got {(min_batch_size, max_batch_size)}"
            )
        super().__init__(min_batch_size=min_batch_size, max_batch_size=max_batch_size)
        self.model_path = None if model_path is None else os.fspath(model_path)
        if self.model_path and os.path.isfile(self.model_path) and not self.model_path.endswith(".keras"):
            raise ValueError(
                f"Received an invalid value for argument `model_path`, expected a .keras file or "
                f"a SavedModel version directory, got the file {self.model_path!r}"
            )
        self.batch_size = batch_size
        self.beam = beam

    def is_savedmodel(self) -> bool:
        return self.model_path is not None and not self.model_path.endswith(".keras")

    def load_model(self):
        if self.model_path is None:
            from keras_htr.transcriber import load_transcriber

            return load_transcriber(None)
        path = _local_copy(self.model_path)
        if self.is_savedmodel():
            if self.beam != 1:
                raise ValueError("beam search needs a .keras model: the SavedModel decodes greedily")
            return SavedModelTranscriber(path)
        from keras_htr.transcriber import load_transcriber

        return load_transcriber(path)

    def run_inference(self, batch: Sequence, model, inference_args=None) -> Iterable[PredictionResult]:
        paths = [path for path, _ in batch]
        try:
            kwargs = {} if isinstance(model, SavedModelTranscriber) else {
                "beam": self.beam, "batch_size": self.batch_size}
            results = model.transcribe([data for _, data in batch], **kwargs)
        except Exception as e:  # never fail the bundle: every line of this batch gets the error
            return [PredictionResult(path, {"error": f"{path}: recognition failed ({one_line(e)})"})
                    for path in paths]
        out = []
        for path, result in zip(paths, results):
            if result.error:
                # The transcriber named the bytes it was given (`<bytes 3>`); name the file.
                reason = result.error
                for prefix in (f"{result.source}: ", "<bytes>: "):
                    reason = reason.removeprefix(prefix)
                # Pillow names the in-memory file by its address: not the same on a retry.
                reason = _BYTES_IO.sub(repr(path), reason)
                out.append(PredictionResult(path, {"error": f"{path}: {reason}"}))
            else:
                out.append(PredictionResult(path, {"text": result.text, "score": result.score}))
        return out

    def get_num_bytes(self, batch: Sequence) -> int:
        return sum(len(data) for _, data in batch)

    def get_metrics_namespace(self) -> str:
        return METRICS_NAMESPACE


def make_row(path: str, text: str = "", score: float = 0.0, error: str | None = None) -> dict:
    """One output row; the score rounded so that a retried bundle writes the same bytes."""
    return {"path": path, "text": text, "score": round(float(score), 6), "error": error}


class _ReadImage(beam.DoFn):
    """path -> (path, bytes); an unreadable path goes to the `errors` output as a row."""

    def process(self, path: str):
        try:
            with FileSystems.open(path) as f:
                data = f.read()
        except Exception as e:
            if not FileSystems.exists(path):
                reason = "no such file"
            else:
                reason = f"cannot read file ({one_line(e)})"
            yield beam.pvalue.TaggedOutput("errors", make_row(path, error=f"{path}: {reason}"))
            return
        yield path, data


class _CountRows(beam.DoFn):
    """Counts rows as Beam metrics (the progress a runner's UI shows), passing them through."""

    def __init__(self):
        self.lines = Metrics.counter(METRICS_NAMESPACE, "lines")
        self.errors = Metrics.counter(METRICS_NAMESPACE, "errors")

    def process(self, row: dict):
        self.lines.inc()
        if row["error"]:
            self.errors.inc()
        yield row


def _prediction_to_row(result: PredictionResult) -> dict:
    return make_row(result.example, **result.inference)


class TranscribeImages(beam.PTransform):
    """`PCollection` of image paths -> `PCollection` of row dicts `{path, text, score, error}`.

    One row per path, `error` None when transcribed; a path that cannot be read or an image that
    cannot be recognised gets a row with `text` "", `score` 0.0 and `error` saying why. Rows are
    counted in the Beam counters `keras_htr:lines` and `keras_htr:errors`.

    Args:
        model_path: see `LineModelHandler` (None: the shipped model).
        batch_size, beam, min_batch_size, max_batch_size: see `LineModelHandler`.
        model_handler: a ready `LineModelHandler` instead of the arguments above.
    """

    def __init__(self, model_path: str | None = None, batch_size: int = 16, beam: int = 1,
                 min_batch_size: int = 128, max_batch_size: int = 512,
                 model_handler: LineModelHandler | None = None):
        super().__init__()
        self.model_handler = model_handler or LineModelHandler(
            model_path, batch_size=batch_size, beam=beam, min_batch_size=min_batch_size,
            max_batch_size=max_batch_size,
        )

    def expand(self, paths):
        read = paths | "ReadImages" >> beam.ParDo(_ReadImage()).with_outputs("errors", main="images")
        rows = (
            read.images
            | "RunInference" >> RunInference(self.model_handler)
            | "ToRows" >> beam.Map(_prediction_to_row)
        )
        return (
            (rows, read.errors)
            | "Merge" >> beam.Flatten()
            | "Count" >> beam.ParDo(_CountRows())
        )


def shard_pattern(output: str) -> str:
    """The glob matching the shards `run_batch` writes into `output`."""
    return FileSystems.join(output, f"{SHARD_PREFIX}-*-of-*{SHARD_SUFFIX}")


def existing_shards(output: str) -> list[str]:
    """Shard files already in `output` (from an earlier run), sorted."""
    try:
        found = FileSystems.match([shard_pattern(output)])[0].metadata_list
    except Exception:  # nothing matched (some filesystems raise instead of returning none)
        return []
    return sorted(m.path for m in found)


def prepare_output(output: str, overwrite: bool = False) -> None:
    """Make sure `output` can take this run's shards, before any work.

    Raises:
        FileExistsError: `output` holds shards of an earlier run and `overwrite` is False
            (new shards would replace some of them and leave the others: a mix).
        OSError: `output` cannot be created or written to.
    """
    old = existing_shards(output)
    if old and not overwrite:
        raise FileExistsError(
            f"{output} already holds {len(old)} shard(s) of an earlier run ({os.path.basename(old[0])}, ...); "
            f"choose another output directory, or pass overwrite=True (--overwrite) to delete them first"
        )
    try:
        if not FileSystems.exists(output):
            FileSystems.mkdirs(output)
        probe = FileSystems.join(output, ".keras-htr-write-test")
        with FileSystems.create(probe) as f:
            f.write(b"ok")
        FileSystems.delete([probe])
    except Exception as e:
        raise OSError(f"cannot write to the output directory {output}: {one_line(e)}") from None
    if old:
        logger.warning("deleting %d shard(s) of an earlier run in %s", len(old), output)
        FileSystems.delete(old)


def expand_inputs(inputs: Sequence[str]) -> list[str]:
    """Paths to transcribe: local folders become their image files (as for `transcribe`), glob
    patterns (`gs://bucket/lines/*.png`) the files they match on any Beam filesystem; any other
    path is kept as given, so that a missing one gets its error row."""
    from keras_htr.data.read import list_images

    paths = []
    for item in inputs:
        item = os.fspath(item)
        if any(c in item for c in _GLOB_CHARS) and not os.path.exists(item):
            matched = sorted(m.path for m in FileSystems.match([item])[0].metadata_list)
            paths.extend(matched if matched else [item])
        else:
            paths.extend(list_images([item]))
    return paths


@dataclasses.dataclass
class BatchResult:
    """What `run_batch` did: rows written, rows with an error, the shard files, the job state."""

    lines: int
    errors: int
    shards: list
    state: str


def _counter(result, name: str) -> int:
    from apache_beam.metrics.metric import MetricsFilter

    try:
        found = result.metrics().query(MetricsFilter().with_namespace(METRICS_NAMESPACE).with_name(name))
    except Exception:  # a runner without metrics queries
        return -1
    counters = found.get("counters", [])
    return int(sum(c.committed or c.attempted or 0 for c in counters))


def build_pipeline(pipeline, output: str, inputs: Sequence[str] = (), inputs_from: str | None = None,
                   num_shards: int = 0, **transcribe_kwargs):
    """Adds the whole job to `pipeline`: paths -> `TranscribeImages` -> JSONL shards in `output`."""
    parts = []
    if inputs:
        parts.append(pipeline | "Inputs" >> beam.Create(list(inputs)))
    if inputs_from is not None:
        parts.append(
            pipeline
            | "ReadList" >> beam.io.ReadFromText(inputs_from)
            | "Strip" >> beam.Map(str.strip)
            | "SkipBlank" >> beam.Filter(bool)
        )
    paths = parts[0] if len(parts) == 1 else tuple(parts) | "AllInputs" >> beam.Flatten()
    return (
        paths
        # Spread the paths over the workers (a list read or created in one piece is one bundle).
        | "Spread" >> beam.Reshuffle()
        | "Transcribe" >> TranscribeImages(**transcribe_kwargs)
        | "ToJson" >> beam.Map(lambda row: json.dumps(row, ensure_ascii=False))
        | "Write" >> beam.io.WriteToText(
            FileSystems.join(output, SHARD_PREFIX), file_name_suffix=SHARD_SUFFIX,
            shard_name_template=SHARD_TEMPLATE, num_shards=num_shards,
        )
    )


def _runner(options):
    """The runner the options name; for the DirectRunner (the default), Beam's Python FnApiRunner.

    Beam 2.77's DirectRunner first tries Prism, a Go binary it downloads from GitHub when the
    pipeline runs (without internet that fails and it falls back, after a delay). The FnApiRunner
    is what it falls back to for a batch pipeline like this one, and it honours
    `--direct_num_workers` and `--direct_running_mode`. `--runner PrismRunner` still chooses Prism.
    """
    from apache_beam.options.pipeline_options import StandardOptions

    name = options.view_as(StandardOptions).runner
    if name not in (None, "DirectRunner", "direct", "SwitchingDirectRunner"):
        return None  # Beam creates it from the options
    from apache_beam.portability.api import beam_provision_api_pb2
    from apache_beam.runners.portability.fn_api_runner import fn_runner
    from apache_beam.runners.portability.portable_runner import JobServiceHandle

    encoded = JobServiceHandle.encode_pipeline_options(options.get_all_options())
    return fn_runner.FnApiRunner(provision_info=fn_runner.ExtendedProvisionInfo(
        beam_provision_api_pb2.ProvisionInfo(pipeline_options=encoded)))


def run_batch(
    output: str,
    inputs: Sequence[str] = (),
    inputs_from: str | None = None,
    model_path: str | None = None,
    pipeline_args: Sequence[str] = (),
    batch_size: int = 16,
    beam_width: int = 1,
    num_shards: int = 0,
    overwrite: bool = False,
    wait: bool = True,
) -> BatchResult:
    """Transcribe images on a Beam runner into JSONL shards in `output`: `keras-htr batch`.

    Args:
        output: directory of the shards (`transcriptions-SSSSS-of-NNNNN.jsonl`), local or on
            any Beam filesystem.
        inputs: image files, local folders, or glob patterns.
        inputs_from: a text file (any Beam filesystem) with one image path per line: for
            archives too large to list on one machine.
        model_path: see `LineModelHandler`.
        pipeline_args: Beam pipeline options (`--runner DataflowRunner --project ...`); none
            runs on the DirectRunner.
        batch_size, beam_width: as for `Transcriber.transcribe` (`beam`).
        num_shards: output shards (0: the runner decides).
        overwrite: delete the shards of an earlier run in `output` first (else refused).
        wait: wait for the job to finish (False returns once a remote job is submitted).

    Returns:
        `BatchResult`; `lines`/`errors` are -1 when the job was not waited for.

    Raises:
        ValueError: no inputs; FileExistsError / OSError: see `prepare_output`;
        FileNotFoundError: no model at `model_path`.
    """
    from apache_beam.options.pipeline_options import PipelineOptions

    inputs = expand_inputs(inputs) if inputs else []
    if not inputs and inputs_from is None:
        raise ValueError("no inputs: give image paths, folders or patterns, or a list file (inputs_from)")
    if inputs_from is not None and not FileSystems.exists(inputs_from):
        raise FileNotFoundError(f"No input list at {inputs_from}")
    if model_path is not None and not FileSystems.exists(os.fspath(model_path)):
        raise FileNotFoundError(f"No model at {model_path}")
    handler = LineModelHandler(model_path, batch_size=batch_size, beam=beam_width)
    if handler.is_savedmodel() and beam_width != 1:
        raise ValueError("beam search needs a .keras model: the SavedModel decodes greedily")
    prepare_output(output, overwrite)

    options = PipelineOptions(list(pipeline_args))
    pipeline = beam.Pipeline(runner=_runner(options), options=options)
    build_pipeline(pipeline, output, inputs, inputs_from, num_shards, model_handler=handler)
    result = pipeline.run()
    if not wait:
        return BatchResult(-1, -1, [], str(result.state))
    result.wait_until_finish()
    return BatchResult(
        lines=_counter(result, "lines"),
        errors=_counter(result, "errors"),
        shards=existing_shards(output),
        state=str(result.state),
    )


def read_rows(output: str) -> list[dict]:
    """Every row of the shards in `output` (in no particular order)."""
    rows = []
    for shard in existing_shards(output):
        with FileSystems.open(shard) as f:
            rows.extend(json.loads(line) for line in f.read().decode("utf-8").splitlines() if line)
    return rows


__all__ = [
    "ROW_KEYS",
    "BatchResult",
    "LineModelHandler",
    "SavedModelTranscriber",
    "TranscribeImages",
    "build_pipeline",
    "existing_shards",
    "expand_inputs",
    "make_row",
    "prepare_output",
    "read_rows",
    "run_batch",
    "shard_pattern",
]  # fmt: skip

"""Export a line recognizer to TFLite (LiteRT) and run it with `ai_edge_litert`.

LiteRT here has no Flex delegate, so the converted model must hold builtin ops only. With a
dynamic batch the recurrent layers need Flex ops; with batch 1 and a dynamic width they become
builtin `WHILE` loops. The variables are frozen into constants first: variables read inside a
`WHILE` body otherwise become `READ_VARIABLE` ops that LiteRT cannot resolve at run time.

The `.tflite` takes one preprocessed line, float32 (1, height, W, 1) with 1 = ink, and returns
the logits (1, T, classes), the greedy-decoded ids (1, T) (padded with -1) and the greedy score
(1,). Image decoding, preprocessing and ids -> text stay on the host; the alphabet and the
preprocessing config are written beside the model in `<file>.tflite.json`.
"""

from __future__ import annotations

import json
import os

import numpy as np

QUANTIZATIONS = ("none", "float16", "int8")
FORMAT = "keras_htr.tflite"


def sidecar_path(path) -> str:
    """The JSON file holding the charset and preprocessing of a `.tflite` model."""
    return os.fspath(path) + ".json"


def convert(model, quantize: str = "none") -> bytes:
    """The TFLite flatbuffer of `model` (batch 1, dynamic width, builtin ops only)."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    from keras_htr.decoders.greedy import greedy_decode

    height = model.preprocess_config.height

    @tf.function(input_signature=[tf.TensorSpec([1, height, None, 1], tf.float32, name="image")])
    def recognize(image):
        width = tf.shape(image)[2:3]
        logits = tf.cast(model({"image": image, "width": width}, training=False), tf.float32)
        ids, score = greedy_decode(logits, model.output_lengths(width))
        return logits, ids, score

    frozen = convert_variables_to_constants_v2(recognize.get_concrete_function())
    converter = tf.lite.TFLiteConverter.from_concrete_functions([frozen])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    # Layers that reshape with -1 lose the static batch of 1; the LSTM loops need it to
    # lower their tensor lists to builtins.
    converter._experimental_default_to_single_batch_in_tensor_list_ops = True
    if quantize in ("float16", "int8"):
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantize == "float16":
        converter.target_spec.supported_types = [tf.float16]
    try:
        return converter.convert()
    except Exception as e:  # ConverterError: its message is pages of MLIR locations
        errors = [
            line.split("error: ", 1)[1]
            for line in str(e).splitlines()
            if "error: " in line and "Select TF ops" not in line  # Flex is not available here
        ]
        summary = "; ".join(dict.fromkeys(errors[:4])) or str(e)[:500]
        raise ValueError(
            f"Cannot convert {model.name!r} to TFLite with builtin ops only ({summary}). "
            f"Every loop in the model must keep static shapes at batch 1 (e.g. a "
            f"tf.TensorArray needs an `element_shape`)."
        ) from e


def export_tflite(model, path, quantize: str = "none") -> str:
    """Write `model` as a `.tflite` file plus its `<path>.json` sidecar.

    Args:
        model: a keras_htr `LineModel`.
        path: output file, ending in `.tflite`.
        quantize: "none" (float32), "float16" (weights stored as float16) or "int8"
            (dynamic-range: int8 weights, float activations).

    Returns:
        `path`.

    Example:

    >>> export_tflite(model, "saved_models/htr_line_int8.tflite", quantize="int8")  # doctest: +SKIP
    """
    from keras_htr.models.line_model import check_line_model

    check_line_model(model)
    if quantize not in QUANTIZATIONS:
        raise ValueError(
            f"Received an invalid value for argument `quantize`, expected one of "
            f"{QUANTIZATIONS}, got {quantize!r}"
        )
    path = os.fspath(path)
    if not path.endswith(".tflite"):
        raise ValueError(
            f"Received an invalid value for argument `path`, expected a file name ending in "
            f"'.tflite', got {path!r}"
        )
    flatbuffer = convert(model, quantize)
    directory = os.path.dirname(path)
    if directory:
        os.makedirs(directory, exist_ok=True)
    with open(path, "wb") as f:
        f.write(flatbuffer)
    info = {
        "format": FORMAT,
        "quantize": quantize,
        "charset": model.charset.get_config(),
        "preprocess_config": model.preprocess_config.get_config(),
        "horizontal_stride": int(getattr(model, "horizontal_stride", 0)) or None,
        "inputs": {"image": "float32 (1, height, W, 1), 1 = ink"},
        "outputs": {
            "logits": "float32 (1, T, classes)",
            "ids": "int32 (1, T), padded with -1",
            "score": "float32 (1,)",
        },
    }
    with open(sidecar_path(path), "w", encoding="utf-8") as f:
        json.dump(info, f, ensure_ascii=False, indent=2)
    return path


class TFLiteTranscriber:
    """Transcribes line images with an exported `.tflite` model and `ai_edge_litert`.

    Preprocessing is `keras_htr.data.preprocess` (the training code), decoding is greedy
    (in the model); the charset comes from the `.tflite.json` sidecar.

    Args:
        path: the `.tflite` file written by `export_tflite`.
        num_threads: interpreter threads; None lets LiteRT choose.

    Example:

    >>> rec = TFLiteTranscriber("saved_models/htr_line.tflite")  # doctest: +SKIP
    >>> rec.transcribe(["examples/line.png"])[0].text  # doctest: +SKIP
    """

    def __init__(self, path, num_threads: int | None = None):
        from ai_edge_litert.interpreter import Interpreter

        from keras_htr.charset import Charset
        from keras_htr.data.preprocess import PreprocessConfig

        self.path = os.fspath(path)
        info_path = sidecar_path(self.path)
        if not os.path.exists(self.path):
            raise FileNotFoundError(f"No TFLite model at {self.path}")
        if not os.path.exists(info_path):
            raise FileNotFoundError(
                f"{info_path} is missing: it holds the charset of {self.path}; "
                f"re-export the model with `keras-htr export --format tflite`"
            )
        with open(info_path, encoding="utf-8") as f:
            info = json.load(f)
        if info.get("format") != FORMAT:
            raise ValueError(f"{info_path} is not a keras_htr TFLite sidecar")
        self.charset = Charset.from_config(info["charset"])
        self.preprocess_config = PreprocessConfig.from_config(info["preprocess_config"])
        self.quantize = info.get("quantize")
        self._interpreter = Interpreter(model_path=self.path, num_threads=num_threads)
        self._input = self._interpreter.get_input_details()[0]["index"]
        # The frozen-graph converter names outputs "Identity*"; tell them apart by rank.
        details = self._interpreter.get_output_details()
        outputs = {len(d["shape_signature"]): d["index"] for d in details}
        self._logits, self._ids, self._score = outputs[3], outputs[2], outputs[1]
        self._width = None
        self._preprocess = None

    def run(self, line):
        """Logits (T, classes), ids (T,) padded -1 and score of one preprocessed line.

        Args:
            line: float32 (height, W, 1) or (1, height, W, 1), 1 = ink.
        """
        line = np.asarray(line, np.float32)
        if line.ndim == 3:
            line = line[None]
        height = self.preprocess_config.height
        if line.ndim != 4 or line.shape[0] != 1 or line.shape[1] != height or line.shape[3] != 1:
            raise ValueError(
                f"Received an invalid value for argument `line`, expected a float32 array "
                f"(1, {height}, W, 1), got shape {line.shape}"
            )
        width = line.shape[2]
        if width != self._width:
            self._interpreter.resize_tensor_input(self._input, line.shape, strict=False)
            self._interpreter.allocate_tensors()
            self._width = width
        self._interpreter.set_tensor(self._input, line)
        self._interpreter.invoke()
        return (
            self._interpreter.get_tensor(self._logits)[0],
            self._interpreter.get_tensor(self._ids)[0],
            float(self._interpreter.get_tensor(self._score)[0]),
        )

    def preprocess(self, image):
        """A path, encoded bytes or array -> float32 (height, W, 1) line, as `Transcriber` does."""
        import tensorflow as tf

        from keras_htr.data.preprocess import load_image, preprocess_line

        if self._preprocess is None:
            config = self.preprocess_config
            # One trace for every image size.
            self._preprocess = tf.function(
                lambda gray: preprocess_line(gray, config),
                input_signature=[tf.TensorSpec([None, None], tf.uint8)],
            )
        gray = load_image(image)
        if min(gray.shape) < 2:
            raise ValueError(
                f"image of {gray.shape[1]}x{gray.shape[0]} pixels is too small for a text line"
            )
        return self._preprocess(np.ascontiguousarray(gray, np.uint8)).numpy()

    def transcribe(self, images_or_paths) -> list:
        """One `Transcription(source, text, score, error)` per input, in input order.

        Args:
            images_or_paths: file paths, encoded image bytes, or uint8 gray/RGB arrays.

        An input that cannot be read gives a transcription with `error` set (naming the
        source), as `Transcriber.transcribe` does; the other inputs are unaffected.
        """
        from keras_htr.data.preprocess import MAX_LINE_WIDTH
        from keras_htr.results import Transcription, source_name

        if isinstance(images_or_paths, (str, os.PathLike, bytes, np.ndarray)):
            images_or_paths = [images_or_paths]
        results = []
        for index, item in enumerate(images_or_paths):
            source = source_name(item, index)
            try:
                line = self.preprocess(item)
                if line.shape[1] > MAX_LINE_WIDTH:
                    raise ValueError(
                        f"line is {line.shape[1]} pixels wide after scaling to height "
                        f"{line.shape[0]} (limit {MAX_LINE_WIDTH}); is this a single text line?"
                    )
                _, ids, score = self.run(line)
            except Exception as e:  # a bad input must not stop the others
                message = str(e) if source in str(e) else f"{source}: {e}"
                results.append(Transcription(source, error=message))
                continue
            text = self.charset.decode([int(i) for i in ids if i > 0])
            results.append(Transcription(source, text, score))
        return results


__all__ = ["QUANTIZATIONS", "TFLiteTranscriber", "convert", "export_tflite", "sidecar_path"]

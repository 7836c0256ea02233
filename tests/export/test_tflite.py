"""TFLite: builtin ops only, batch 1 and any width, the same text and logits as Keras."""

import json
import os

import numpy as np
import pytest

from export_line_images import encode, render_line


@pytest.fixture(scope="module")
def tflite_files(model, tmp_path_factory):
    from keras_htr.export import export_tflite

    folder = tmp_path_factory.mktemp("tflite")
    return {
        q: export_tflite(model, folder / f"m_{q}.tflite", quantize=q)
        for q in ("none", "float16", "int8")
    }


def test_runs_on_litert_without_flex(tflite_files):
    from ai_edge_litert.interpreter import Interpreter

    with open(tflite_files["none"], "rb") as f:
        assert b"Flex" not in f.read()  # a Flex op would name its kernel "Flex<Op>"
    interpreter = Interpreter(model_path=tflite_files["none"])
    (image,) = interpreter.get_input_details()
    assert image["shape_signature"].tolist() == [1, 32, -1, 1]
    for width in (9, 130):  # allocate and invoke at two widths with the plain runtime
        interpreter.resize_tensor_input(image["index"], [1, 32, width, 1])
        interpreter.allocate_tensors()
        interpreter.set_tensor(image["index"], np.zeros([1, 32, width, 1], np.float32))
        interpreter.invoke()


def test_float32_matches_keras(tflite_files, keras_logits, line_files, keras_texts):
    from keras_htr.export import TFLiteTranscriber

    transcriber = TFLiteTranscriber(tflite_files["none"])
    for (line, expected), path in zip(keras_logits, line_files):
        logits, ids, score = transcriber.run(line)
        np.testing.assert_allclose(logits, expected, atol=1e-4, err_msg=path)
        assert 0 < score <= 1
    results = transcriber.transcribe(line_files)
    assert [r.text for r in results] == keras_texts
    assert all(r.ok for r in results)


def test_quantized_models_are_smaller_and_close(tflite_files, keras_logits):
    from keras_htr.export import TFLiteTranscriber

    sizes = {q: os.path.getsize(p) for q, p in tflite_files.items()}
    # This model is tiny (weights under 1024 values stay float); the benchmark measures the
    # real ratios on the shipped model.
    assert sizes["int8"] < sizes["float16"] < sizes["none"]
    for quantize in ("float16", "int8"):
        transcriber = TFLiteTranscriber(tflite_files[quantize])
        agree = []
        for line, expected in keras_logits:
            logits, _, _ = transcriber.run(line)
            assert logits.shape == expected.shape
            agree.append(np.mean(logits.argmax(-1) == expected.argmax(-1)))
        assert np.mean(agree) > 0.9, (quantize, np.mean(agree))


def test_sidecar_and_bad_inputs(tflite_files, model, tmp_path):
    from keras_htr.export import TFLiteTranscriber
    from keras_htr.export.tflite import sidecar_path

    with open(sidecar_path(tflite_files["int8"]), encoding="utf-8") as f:
        info = json.load(f)
    assert info["charset"] == model.charset.get_config() and info["quantize"] == "int8"

    transcriber = TFLiteTranscriber(tflite_files["none"])
    good = encode(render_line("dog", seed=3))
    results = transcriber.transcribe([b"not an image", good, str(tmp_path / "missing.png")])
    assert not results[0].ok and "<bytes 0>" in results[0].error
    assert results[1].ok and results[1].text == transcriber.transcribe(good)[0].text
    assert not results[2].ok and "missing.png" in results[2].error
    with pytest.raises(ValueError, match="argument `line`"):
        transcriber.run(np.zeros([16, 40, 1], np.float32))

    lonely = tmp_path / "lonely.tflite"
    lonely.write_bytes(open(tflite_files["none"], "rb").read())
    with pytest.raises(FileNotFoundError, match="charset"):
        TFLiteTranscriber(lonely)


def test_export_arguments_are_checked(model, tmp_path):
    from keras_htr.export import export_tflite

    with pytest.raises(ValueError, match="argument `quantize`"):
        export_tflite(model, tmp_path / "m.tflite", quantize="int4")
    with pytest.raises(ValueError, match="argument `path`"):
        export_tflite(model, tmp_path / "m.bin")
    with pytest.raises(ValueError, match="argument `model`"):
        export_tflite(object(), tmp_path / "m.tflite")
    assert not os.listdir(tmp_path)


def test_mdlstm_model_converts_and_matches_keras(tmp_path):
    """The MDLSTM line model (wavefront loops, width masks) converts with builtins only too."""
    import keras

    from keras_htr import Charset
    from keras_htr.data.preprocess import PreprocessConfig
    from keras_htr.export import TFLiteTranscriber, export_tflite
    from keras_htr.models import build_model
    from keras_htr.models.config import MDLSTMConfig, ModelConfig

    keras.utils.set_random_seed(3)
    config = ModelConfig(arch="mdlstm", mdlstm=MDLSTMConfig(lstm_units=(2, 4, 8), dropout=0.0))
    model = build_model(config, Charset("ab "), PreprocessConfig(height=32))
    path = export_tflite(model, tmp_path / "mdlstm.tflite")
    with open(path, "rb") as f:
        assert b"Flex" not in f.read()
    transcriber = TFLiteTranscriber(path)
    rng = np.random.default_rng(0)
    for width in (20, 57):
        line = rng.uniform(0, 1, (32, width, 1)).astype(np.float32)
        expected = model({"image": line[None], "width": np.array([width], np.int32)})[0]
        logits, _, _ = transcriber.run(line)
        np.testing.assert_allclose(logits, np.asarray(expected), atol=1e-4)

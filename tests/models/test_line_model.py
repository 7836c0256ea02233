import json
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_htr.data.pipeline import make_dataset, pad_batch
from keras_htr.data.preprocess import PreprocessConfig, preprocess_line
from keras_htr.data.sample import Sample
from keras_htr.evaluation import evaluate
from keras_htr.models import LineModel, build_model
from keras_htr.transcriber import Transcriber


def batch_of(lines, config=None):
    config = config or PreprocessConfig()
    return pad_batch([preprocess_line(g, config) for g in lines], boundaries=None)


@pytest.mark.parametrize("arch", ["crnn", "mdlstm"])
def test_padded_batch_gives_each_line_alone(arch, lines, charset, request):
    config = request.getfixturevalue(f"tiny_{arch}")
    model = build_model(config, charset)
    inputs = batch_of(lines)
    # Extra right padding must not change anything either.
    inputs["image"] = tf.pad(inputs["image"], [[0, 0], [0, 0], [0, 13], [0, 0]])
    logits = model(inputs).numpy()
    lengths = model.output_lengths(inputs["width"]).numpy()
    assert logits.shape == (len(lines), -(-int(inputs["image"].shape[2]) // 4), charset.num_classes)
    for i, gray in enumerate(lines):
        alone = batch_of([gray])
        single = model(alone).numpy()[0]
        assert single.shape[0] == lengths[i]
        # Same maths, different batch shapes: equal up to float32 summation order.
        np.testing.assert_allclose(logits[i, : lengths[i]], single, rtol=1e-4, atol=1e-4)


def test_output_lengths_are_ceil_of_width_over_stride(charset, tiny_crnn):
    model = build_model(tiny_crnn, charset)
    assert model.output_lengths([1, 4, 5, 8, 9]).numpy().tolist() == [1, 1, 2, 2, 3]
    assert model.charset == charset and model.preprocess_config == PreprocessConfig()


def test_build_model_rejects_bad_arguments(charset):
    with pytest.raises(ValueError, match="charset"):
        build_model("crnn", None)
    with pytest.raises(ValueError, match="arch"):
        build_model("lstm", charset)
    with pytest.raises(ValueError, match="stride"):
        build_model("crnn", charset, PreprocessConfig(height=8))  # default pools: 16 rows


def test_tiny_crnn_overfits_to_cer_zero_and_reloads_in_fresh_process(
    lines, texts, charset, tiny_crnn, tmp_path
):
    # The path users train with: Samples -> make_dataset -> fit -> evaluate (a Transcriber).
    keras.utils.set_random_seed(0)
    samples = [Sample(gray, text, f"line{i}") for i, (gray, text) in enumerate(zip(lines, texts))]
    steps = 25
    train_ds = make_dataset(samples, charset, batch_size=len(samples), training=True, seed=0,
                            cache=True, steps_per_epoch=steps)
    model = build_model(tiny_crnn, charset)
    model.compile(optimizer=keras.optimizers.Adam(3e-3, global_clipnorm=5.0))
    for _ in range(24):
        model.fit(train_ds, epochs=1, steps_per_epoch=steps, verbose=0)
        result = evaluate(model, samples)
        if result.cer == 0.0:
            break
    decoded = [t.text for t in Transcriber(model).transcribe(lines)]
    assert decoded == texts, result.failed
    assert result.cer == 0.0 and result.lines == len(texts) and not result.failed
    assert model.get_metrics_result()["infeasible_labels"] == 0

    path = tmp_path / "tiny.keras"
    model.save(path)
    inputs = batch_of(lines)
    np.save(tmp_path / "image.npy", inputs["image"].numpy())
    np.save(tmp_path / "width.npy", inputs["width"].numpy())
    script = f"""
import json, keras, numpy as np
import keras_htr.models  # registers the classes; no custom_objects needed
from keras_htr.decoders.greedy import greedy_decode
model = keras.models.load_model({str(path)!r})
inputs = {{"image": np.load({str(tmp_path / "image.npy")!r}), "width": np.load({str(tmp_path / "width.npy")!r})}}
ids, _ = greedy_decode(model(inputs), model.output_lengths(inputs["width"]))
print(json.dumps([type(model).__name__, model.charset.get_config()["chars"], [model.charset.decode(r) for r in ids.numpy()]]))
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    name, chars, reloaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert name == "LineModel" and chars == "".join(charset.chars)
    assert reloaded == texts


def test_config_round_trip_rebuilds_same_architecture(charset, tiny_mdlstm):
    model = build_model(tiny_mdlstm, charset, PreprocessConfig(height=32, deslant=False))
    again = LineModel.from_config(model.get_config())
    assert again.model_config == tiny_mdlstm
    assert again.preprocess_config.deslant is False
    assert [w.shape for w in again.weights] == [w.shape for w in model.weights]



def test_reload_survives_address_reuse_of_wrapped_lstms(charset, tiny_crnn, tmp_path, monkeypatch):
    """Loading a CRNN must not mistake one BLSTM's LSTM for another's.

    Keras' object-sharing scope (active in `load_model`) tells objects apart by `id()`, and
    CPython reuses the address of a collected object. That made fine-tuning runs fail at random
    after a few loads in one process. Here `id` reuses the slot of any collected object at once
    (the worst case of the allocator; only LSTMs are serialised while a CRNN is wired), so the
    failure is certain unless every wrapped LSTM stays alive while the model is wired.
    """
    import dataclasses

    from tiny_lines import reuse_addresses_of_collected_lstms

    config = dataclasses.replace(tiny_crnn, crnn=dataclasses.replace(tiny_crnn.crnn, lstm_layers=3))
    model = build_model(config, charset, PreprocessConfig(height=32))
    path = tmp_path / "m.keras"
    model.save(path)
    reuse_addresses_of_collected_lstms(monkeypatch)
    again = keras.models.load_model(path, compile=False)
    wrappers = [layer for layer in again.layers if layer.name.startswith("blstm")]
    inner = [x for w in wrappers for x in (w.forward_layer, w.backward_layer)]
    assert len({id(x) for x in inner}) == 2 * len(wrappers)
    assert [(w.forward_layer.go_backwards, w.backward_layer.go_backwards) for w in wrappers] == [
        (False, True)
    ] * len(wrappers)
    for a, b in zip(model.weights, again.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


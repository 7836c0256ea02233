"""The in-process adapter answers TF Serving's PredictRequest and REST bodies like the server."""

import base64
import json

import numpy as np
import pytest

from export_line_images import encode, render_line


def test_predict_request_round_trip(servable, line_files, keras_texts):
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = "htr"
    request.model_spec.signature_name = "serving_default"
    images = [open(p, "rb").read() for p in line_files[:6]] + [b"not an image"]
    request.inputs["image_bytes"].CopyFrom(tf.make_tensor_proto(images, dtype=tf.string))
    request = predict_pb2.PredictRequest.FromString(request.SerializeToString())

    response = servable.predict(request)
    response = predict_pb2.PredictResponse.FromString(response.SerializeToString())

    assert response.model_spec.name == "htr" and response.model_spec.version.value == 3
    texts = [t.decode() for t in tf.make_ndarray(response.outputs["text"])]
    errors = [e.decode() for e in tf.make_ndarray(response.outputs["error"])]
    scores = tf.make_ndarray(response.outputs["score"])
    assert texts == keras_texts[:6] + [""]
    assert errors[:6] == [""] * 6 and "not a PNG" in errors[6]
    assert scores[6] == -1.0 and np.all(scores[:6] > 0)


def test_predict_request_output_filter_and_logits(servable, line_files):
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = "htr"
    request.model_spec.signature_name = "logits"
    request.output_filter.append("lengths")
    request.inputs["image_bytes"].CopyFrom(
        tf.make_tensor_proto([open(line_files[0], "rb").read()], dtype=tf.string)
    )
    response = servable.predict(predict_pb2.PredictRequest.FromString(request.SerializeToString()))
    assert list(response.outputs) == ["lengths"]
    assert tf.make_ndarray(response.outputs["lengths"])[0] > 0


def test_rest_row_and_columnar_bodies(servable, line_files, keras_texts):
    b64 = [base64.b64encode(open(p, "rb").read()).decode() for p in line_files[:4]]
    body = json.dumps({"signature_name": "serving_default", "instances": [{"b64": b} for b in b64]})
    rows = servable.rest_predict(body, model_name="htr")["predictions"]
    assert [r["text"] for r in rows] == keras_texts[:4]
    assert all(r["error"] == "" and 0 < r["score"] <= 1 for r in rows)
    json.dumps(rows)  # plain JSON types

    named = {"instances": [{"image_bytes": {"b64": b}} for b in b64[:2]]}
    assert [r["text"] for r in servable.rest_predict(named)["predictions"]] == keras_texts[:2]

    columnar = servable.rest_predict({"inputs": {"image_bytes": [{"b64": b} for b in b64[:2]]}})
    assert columnar["outputs"]["text"] == keras_texts[:2]


def test_rest_bad_element_and_bad_requests(servable):
    from local_servable import RequestError

    png = base64.b64encode(encode(render_line("abc", seed=5))).decode()
    junk = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40).decode()
    rows = servable.rest_predict({"instances": [{"b64": junk}, {"b64": png}]})["predictions"]
    assert rows[0]["text"] == "" and rows[0]["score"] == -1.0 and rows[0]["error"]
    assert rows[1]["error"] == "" and rows[1]["score"] > 0

    with pytest.raises(RequestError, match="Servable not found") as e:
        servable.rest_predict({"instances": []}, model_name="other")
    assert e.value.status == 404
    with pytest.raises(RequestError, match="not found in signature def"):
        servable.rest_predict({"signature_name": "nope", "instances": [{"b64": png}]})
    with pytest.raises(RequestError, match="invalid base64"):
        servable.rest_predict({"instances": [{"b64": "!!!"}]})
    with pytest.raises(RequestError, match="JSON"):
        servable.rest_predict(b"{not json")
    with pytest.raises(RequestError, match="exactly one"):
        servable.rest_predict({"instances": [], "inputs": {}})

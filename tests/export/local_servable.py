"""Answer TF Serving's Predict API from an exported SavedModel, in process.

A test helper, not part of the package. The TensorFlow Serving binary cannot be installed on
these machines (not on PyPI), so this adapter stands in for it: it takes the two request forms
the server takes, a gRPC `PredictRequest` (tensorflow-serving-api protos) and a REST
`:predict` JSON body, feeds them to the SavedModel's signature and answers in the server's
format. The tests use it to check the exported signatures and the `ServingClient` end to end.
From a source checkout it also tries an export without Docker:
`python tests/export/local_servable.py saved_models/htr_line --port 8501`. It implements the
parts of the protocol keras-htr uses, not all of it.

REST bodies follow https://www.tensorflow.org/tfx/serving/api_rest: row format
`{"signature_name": ..., "instances": [{"b64": ...}, ...]}` (or `[{"image_bytes": {"b64": ...}}]`)
answered with `{"predictions": [{"text": ..., "score": ..., "error": ...}, ...]}`, and columnar
format `{"inputs": {"image_bytes": [...]}}` answered with `{"outputs": {...}}`.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np


class RequestError(ValueError):
    """A request the server would refuse; `status` is the HTTP status it would answer with."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def _decode_b64(value, where: str):
    if isinstance(value, dict) and set(value) == {"b64"}:
        try:
            return base64.b64decode(value["b64"], validate=True)
        except (ValueError, TypeError) as e:
            raise RequestError(f"{where}: invalid base64 ({e})") from None
    if isinstance(value, str):
        return value.encode("utf-8")
    raise RequestError(
        f"{where}: expected a string or {{\"b64\": ...}}, got {type(value).__name__}"
    )


def _to_json(name: str, value):
    """A numpy output as TF Serving writes it in JSON (strings as UTF-8, `*_bytes` as b64)."""
    if isinstance(value, bytes):
        if name.endswith("_bytes"):
            return {"b64": base64.b64encode(value).decode("ascii")}
        return value.decode("utf-8", errors="replace")
    if isinstance(value, np.ndarray) and value.dtype == object:
        return [_to_json(name, v) for v in value]
    if isinstance(value, (np.ndarray, np.generic)):
        return value.tolist()
    return value


class LocalServable:
    """One model version, served in process with TF Serving's request and response formats.

    Args:
        path: a version directory written by `export_savedmodel` (`<base>/<version>`), or a
            base path, in which case the highest numbered version is loaded (as the server does).
        model_name: the name requests must address (TF Serving's `--model_name`).

    Example:

    >>> servable = LocalServable("saved_models/htr_line", "htr_line")  # doctest: +SKIP
    >>> servable.rest_predict({"instances": [{"b64": b64_png}]})  # doctest: +SKIP
    {'predictions': [{'text': '...', 'score': 0.93, 'error': ''}]}
    """

    def __init__(self, path, model_name: str = "htr_line"):
        import tensorflow as tf

        path = os.fspath(path)
        if not os.path.exists(os.path.join(path, "saved_model.pb")):
            names = os.listdir(path) if os.path.isdir(path) else []
            versions = [int(v) for v in names if v.isdigit()]
            if not versions:
                raise FileNotFoundError(f"No SavedModel and no version directory in {path}")
            self.version = max(versions)
            path = os.path.join(path, str(self.version))
        else:
            base = os.path.basename(os.path.normpath(path))
            self.version = int(base) if base.isdigit() else 1
        self.path = path
        self.model_name = model_name
        self._loaded = tf.saved_model.load(path)
        self.signatures = dict(self._loaded.signatures)

    # -- shared ------------------------------------------------------------------------------

    def _signature(self, name: str):
        name = name or "serving_default"
        if name not in self.signatures:
            raise RequestError(
                f"Serving signature name: \"{name}\" not found in signature def; "
                f"available: {sorted(self.signatures)}"
            )
        return self.signatures[name]

    def _check_model(self, name: str, version=None):
        if name != self.model_name or (version is not None and int(version) != self.version):
            spec = f"Specific({name}, {version})" if version is not None else f"Latest({name})"
            raise RequestError(f"Servable not found for request: {spec}", status=404)

    def run(self, signature_name: str, inputs: dict) -> dict:
        """Feed numpy `inputs` to a signature; numpy outputs."""
        import tensorflow as tf

        fn = self._signature(signature_name)
        expected = fn.structured_input_signature[1]
        unknown = set(inputs) - set(expected)
        missing = set(expected) - set(inputs)
        if unknown or missing:
            raise RequestError(
                f"Signature {signature_name!r} takes inputs {sorted(expected)}, "
                f"got {sorted(inputs)}"
            )
        tensors = {k: tf.constant(v, dtype=expected[k].dtype) for k, v in inputs.items()}
        try:
            outputs = fn(**tensors)
        except tf.errors.OpError as e:
            raise RequestError(e.message) from None
        return {k: v.numpy() for k, v in outputs.items()}

    # -- gRPC --------------------------------------------------------------------------------

    def predict(self, request):
        """Answer a `tensorflow_serving.apis.predict_pb2.PredictRequest`."""
        import tensorflow as tf
        from tensorflow_serving.apis import predict_pb2

        spec = request.model_spec
        version = spec.version.value if spec.HasField("version") else None
        self._check_model(spec.name, version)
        signature_name = spec.signature_name or "serving_default"
        inputs = {k: tf.make_ndarray(v) for k, v in request.inputs.items()}
        outputs = self.run(signature_name, inputs)
        wanted = list(request.output_filter) or list(outputs)
        unknown = set(wanted) - set(outputs)
        if unknown:
            raise RequestError(f"output_filter names unknown outputs {sorted(unknown)}")
        response = predict_pb2.PredictResponse()
        response.model_spec.name = self.model_name
        response.model_spec.version.value = self.version
        response.model_spec.signature_name = signature_name
        for name in wanted:
            response.outputs[name].CopyFrom(tf.make_tensor_proto(outputs[name]))
        return response

    # -- REST --------------------------------------------------------------------------------

    def rest_predict(self, body, model_name: str | None = None, version=None) -> dict:
        """Answer a REST `:predict` body (dict, JSON text or bytes) with the response dict.

        Raises:
            RequestError: for a request the server would refuse, with its HTTP `status`.
        """
        self._check_model(self.model_name if model_name is None else model_name, version)
        if isinstance(body, (bytes, str)):
            try:
                body = json.loads(body)
            except ValueError as e:
                raise RequestError(f"JSON Parse error: {e}") from None
        if not isinstance(body, dict):
            raise RequestError("Request body must be a JSON object")
        signature_name = body.get("signature_name") or "serving_default"
        fn = self._signature(signature_name)
        input_names = sorted(fn.structured_input_signature[1])
        if ("instances" in body) == ("inputs" in body):
            raise RequestError('Request body must have exactly one of "instances" or "inputs"')
        if "instances" in body:
            instances = body["instances"]
            if not isinstance(instances, list):
                raise RequestError('"instances" must be a list')
            columns = {name: [] for name in input_names}
            for i, instance in enumerate(instances):
                if len(input_names) == 1 and not (
                    isinstance(instance, dict) and set(instance) == set(input_names)
                ):
                    instance = {input_names[0]: instance}
                if not isinstance(instance, dict) or set(instance) != set(input_names):
                    raise RequestError(f"instances[{i}]: expected the inputs {input_names}")
                for name in input_names:
                    columns[name].append(_decode_b64(instance[name], f"instances[{i}].{name}"))
        else:
            given = body["inputs"]
            if not isinstance(given, dict):
                given = {input_names[0]: given} if len(input_names) == 1 else given
            if not isinstance(given, dict):
                raise RequestError('"inputs" must map input names to values')
            columns = {
                name: [_decode_b64(v, f"inputs.{name}[{i}]") for i, v in enumerate(values)]
                for name, values in given.items()
            }
        inputs = {name: np.array(values, dtype=object) for name, values in columns.items()}
        outputs = self.run(signature_name, inputs)
        if "instances" in body:
            count = len(body["instances"])
            rows = [{k: _to_json(k, v[i]) for k, v in outputs.items()} for i in range(count)]
            if len(outputs) == 1:
                rows = [next(iter(row.values())) for row in rows]
            return {"predictions": rows}
        return {"outputs": {k: _to_json(k, v) for k, v in outputs.items()}}

    def rest_status(self, model_name: str | None = None) -> dict:
        """The body of `GET /v1/models/<name>`."""
        self._check_model(self.model_name if model_name is None else model_name)
        return {
            "model_version_status": [
                {
                    "version": str(self.version),
                    "state": "AVAILABLE",
                    "status": {"error_code": "OK", "error_message": ""},
                }
            ]
        }


def rest_server(
    servable: LocalServable, host: str = "127.0.0.1", port: int = 8501
) -> ThreadingHTTPServer:
    """An HTTP server answering `POST /v1/models/<name>[/versions/<v>]:predict` and
    `GET /v1/models/<name>` like TF Serving's REST API (call `.serve_forever()`; port 0 picks
    a free port, see `.server_address`)."""

    class Handler(BaseHTTPRequestHandler):
        def _route(self):
            path = self.path.split("?", 1)[0]
            if not path.startswith("/v1/models/"):
                raise RequestError(f"Malformed request: {self.command} {path}", status=404)
            rest = path[len("/v1/models/") :]
            rest, _, verb = rest.partition(":")
            parts = rest.split("/")
            version = parts[2] if len(parts) >= 3 and parts[1] == "versions" else None
            if version is not None and not version.isdigit():
                raise RequestError(f"Malformed request: {path}", status=404)
            return parts[0], version, verb

        def _answer(self, handle):
            try:
                status, body = 200, handle()
            except RequestError as e:
                status, body = e.status, {"error": str(e)}
            except Exception as e:  # a server answers, it does not die
                status, body = 500, {"error": f"{type(e).__name__}: {e}"}
            data = json.dumps(body).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self):
            def handle():
                name, version, verb = self._route()
                if verb != "predict":
                    raise RequestError(f"Only :predict is served here, got {verb!r}", status=404)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                return servable.rest_predict(body, model_name=name, version=version)

            self._answer(handle)

        def do_GET(self):
            self._answer(lambda: servable.rest_status(self._route()[0]))

        def log_message(self, *args):
            pass

    return ThreadingHTTPServer((host, port), Handler)


def main(argv=None) -> int:
    """`python tests/export/local_servable.py saved_models/htr_line`: TF Serving's REST API,
    in process, for trying an export without Docker (not for production)."""
    parser = argparse.ArgumentParser(description=main.__doc__.split(":")[0])
    parser.add_argument("path", help="a SavedModel base path or version directory")
    parser.add_argument("--model-name", default=None, help="default: the base path's name")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8501)
    args = parser.parse_args(argv)
    path = os.path.normpath(args.path)
    name = args.model_name
    if name is None:
        base = os.path.basename(path)
        name = os.path.basename(os.path.dirname(path)) if base.isdigit() else base
    server = rest_server(LocalServable(path, name), args.host, args.port)
    host, port = server.server_address[:2]
    print(f"serving {name!r} at http://{host}:{port}/v1/models/{name}:predict", file=sys.stderr)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


__all__ = ["LocalServable", "RequestError", "rest_server"]


if __name__ == "__main__":
    sys.exit(main())

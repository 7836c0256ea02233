"""A client for a keras-htr model behind TensorFlow Serving, over REST or gRPC.

`ServingClient(url, model_name).transcribe(paths)` answers like the local `Transcriber`: one
`Transcription(source, text, score, error)` per input. Images are sent as their file bytes
when the server can decode them (PNG, JPEG, GIF, BMP); other formats (TIFF, WebP, ...) are
decoded on the host with `load_image` and sent as PNG. A server that is down, a missing model
or a refused request raise `ServingError` with the server's own message; an image the server
could not decode comes back as that input's `error`.
"""

from __future__ import annotations

import base64
import io
import json
import os
import socket
import urllib.error
import urllib.parse
import urllib.request

import numpy as np

PROTOCOLS = ("rest", "grpc")
#: Magic numbers of the formats the exported signature decodes itself.
_SERVER_FORMATS = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"BM")


class ServingError(RuntimeError):
    """TF Serving could not be reached, or refused the request (message from the server)."""


def encode_for_server(item) -> bytes:
    """The bytes to send for a path, encoded bytes or array.

    Files in a format the signature decodes are sent unchanged; anything else is decoded on
    the host (`load_image`: any Pillow format, EXIF orientation, size guard) and sent as PNG.

    Raises:
        keras_htr.data.preprocess.ImageError, OSError: the input cannot be read.
    """
    from PIL import Image

    from keras_htr.data.preprocess import load_image

    if isinstance(item, (str, os.PathLike)):
        with open(item, "rb") as f:
            data = f.read()
    elif isinstance(item, (bytes, bytearray)):
        data = bytes(item)
    else:
        data = None
    if data is not None and data.startswith(_SERVER_FORMATS):
        return data
    gray = load_image(data if data is not None else np.asarray(item))
    buffer = io.BytesIO()
    Image.fromarray(gray).save(buffer, format="PNG")
    return buffer.getvalue()


class ServingClient:
    """Transcribes line images with a model served by TensorFlow Serving.

    Args:
        url: `http://host:8501` for REST, `host:8500` (or `grpc://host:8500`) for gRPC.
        model_name: the served model's name (`name` in `models.config`). Defaults to "htr_line".
        protocol: "rest" or "grpc"; None picks REST for http(s) URLs and gRPC otherwise.
        version: a model version to address; None is the latest the server has.
        signature_name: the signature that returns `text` and `score`.
        timeout: seconds to wait for each request.
        batch_size: lines sent per request.

    Example:

    >>> client = ServingClient("http://localhost:8501", "htr_line")  # doctest: +SKIP
    >>> client.transcribe(["examples/line.png"])[0].text  # doctest: +SKIP
    """

    def __init__(
        self,
        url: str,
        model_name: str = "htr_line",
        protocol: str | None = None,
        version: int | None = None,
        signature_name: str = "serving_default",
        timeout: float = 30.0,
        batch_size: int = 16,
    ):
        if not isinstance(url, str) or not url:
            raise ValueError(
                f"Received an invalid value for argument `url`, expected 'http://host:8501' or "
                f"'host:8500', got {url!r}"
            )
        if protocol is None:
            protocol = "rest" if url.startswith(("http://", "https://")) else "grpc"
        if protocol not in PROTOCOLS:
            raise ValueError(
                f"Received an invalid value for argument `protocol`, expected one of "
                f"{PROTOCOLS}, got {protocol!r}"
            )
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(
                f"Received an invalid value for argument `batch_size`, expected a positive "
                f"integer, got {batch_size!r}"
            )
        if version is not None and (not isinstance(version, int) or version < 1):
            raise ValueError(
                f"Received an invalid value for argument `version`, expected a positive "
                f"integer or None, got {version!r}"
            )
        self.protocol = protocol
        self.model_name = model_name
        self.version = version
        self.signature_name = signature_name
        self.timeout = float(timeout)
        self.batch_size = batch_size
        if protocol == "rest":
            if not url.startswith(("http://", "https://")):
                url = "http://" + url
            self.url = url.rstrip("/")
        else:
            self.url = url[len("grpc://") :] if url.startswith("grpc://") else url
        self._stub = None

    # -- transport ---------------------------------------------------------------------------

    def _model_path(self) -> str:
        path = f"{self.url}/v1/models/{urllib.parse.quote(self.model_name)}"
        return path + (f"/versions/{self.version}" if self.version else "")

    def _rest(self, url: str, body: dict | None = None) -> dict:
        data = None if body is None else json.dumps(body).encode("utf-8")
        request = urllib.request.Request(
            url,
            data=data,
            headers={"Content-Type": "application/json"},
            method="GET" if body is None else "POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read().decode("utf-8"))
        except urllib.error.HTTPError as e:
            detail = e.read().decode("utf-8", errors="replace")
            try:
                detail = json.loads(detail).get("error", detail)
            except (ValueError, AttributeError):
                pass
            raise ServingError(
                f"TF Serving at {self.url} answered HTTP {e.code} for model "
                f"{self.model_name!r}: {detail}"
            ) from None
        except (urllib.error.URLError, ConnectionError, socket.timeout, TimeoutError) as e:
            reason = getattr(e, "reason", e)
            raise ServingError(
                f"Cannot reach TF Serving at {self.url} ({reason}); is the server running?"
            ) from None
        except ValueError as e:
            raise ServingError(
                f"TF Serving at {self.url} sent a response that is not JSON: {e}"
            ) from None

    def _grpc_stub(self):
        if self._stub is None:
            import grpc
            from tensorflow_serving.apis import prediction_service_pb2_grpc

            channel = grpc.insecure_channel(
                self.url,
                options=[
                    ("grpc.max_receive_message_length", 64 << 20),
                    ("grpc.max_send_message_length", 64 << 20),
                ],
            )
            self._stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        return self._stub

    def _grpc_predict(self, images: list[bytes]) -> dict:
        import grpc
        import tensorflow as tf
        from tensorflow_serving.apis import predict_pb2

        request = predict_pb2.PredictRequest()
        request.model_spec.name = self.model_name
        request.model_spec.signature_name = self.signature_name
        if self.version:
            request.model_spec.version.value = self.version
        request.inputs["image_bytes"].CopyFrom(
            tf.make_tensor_proto(np.array(images, dtype=object), dtype=tf.string)
        )
        try:
            response = self._grpc_stub().Predict(request, timeout=self.timeout)
        except grpc.RpcError as e:
            code = e.code()
            if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                raise ServingError(
                    f"Cannot reach TF Serving at {self.url} over gRPC ({code.name}: "
                    f"{e.details()}); is the server running?"
                ) from None
            raise ServingError(
                f"TF Serving at {self.url} refused the request for model {self.model_name!r} "
                f"({code.name}): {e.details()}"
            ) from None
        return {name: tf.make_ndarray(proto) for name, proto in response.outputs.items()}

    def predict(self, images: list[bytes]) -> list[dict]:
        """Raw answers of the signature for encoded images: dicts with text, score, error."""
        if self.protocol == "rest":
            body = {
                "signature_name": self.signature_name,
                "instances": [{"b64": base64.b64encode(b).decode("ascii")} for b in images],
            }
            rows = self._rest(self._model_path() + ":predict", body).get("predictions")
            if not isinstance(rows, list) or len(rows) != len(images):
                raise ServingError(
                    f"TF Serving at {self.url} answered without one prediction per image"
                )
            return rows
        outputs = self._grpc_predict(images)
        missing = {"text", "score"} - set(outputs)
        if missing:
            raise ServingError(
                f"The signature {self.signature_name!r} has no outputs {sorted(missing)}"
            )
        rows = []
        for i in range(len(images)):
            row = {}
            for name, values in outputs.items():
                value = values[i]
                if isinstance(value, bytes):
                    row[name] = value.decode("utf-8", errors="replace")
                else:
                    row[name] = value.item()
            rows.append(row)
        return rows

    def status(self) -> dict:
        """The server's view of the model (REST `GET /v1/models/<name>`); raises if missing."""
        if self.protocol == "rest":
            return self._rest(self._model_path())
        import grpc
        from tensorflow_serving.apis import get_model_status_pb2, model_service_pb2_grpc

        request = get_model_status_pb2.GetModelStatusRequest()
        request.model_spec.name = self.model_name
        if self.version:
            request.model_spec.version.value = self.version
        try:
            channel = grpc.insecure_channel(self.url)
            response = model_service_pb2_grpc.ModelServiceStub(channel).GetModelStatus(
                request, timeout=self.timeout
            )
        except grpc.RpcError as e:
            raise ServingError(
                f"TF Serving at {self.url}: {e.code().name}: {e.details()}"
            ) from None
        return {
            "model_version_status": [
                {
                    "version": str(s.version),
                    "state": get_model_status_pb2.ModelVersionStatus.State.Name(s.state),
                }
                for s in response.model_version_status
            ]
        }

    # -- the recognizer interface ------------------------------------------------------------

    def transcribe(self, images_or_paths) -> list:
        """One `Transcription(source, text, score, error)` per input, in input order.

        Raises:
            ServingError: the server cannot be reached or refuses the request.
        """
        from keras_htr.results import Transcription, source_name

        if isinstance(images_or_paths, (str, os.PathLike, bytes, np.ndarray)):
            images_or_paths = [images_or_paths]
        items = list(images_or_paths)
        results = [None] * len(items)
        pending = []  # (index, bytes)
        for i, item in enumerate(items):
            source = source_name(item, i)
            try:
                pending.append((i, encode_for_server(item)))
            except Exception as e:  # unreadable file: report it, keep the others
                message = str(e) if source in str(e) else f"{source}: {e}"
                results[i] = Transcription(source, error=message)
        for start in range(0, len(pending), self.batch_size):
            chunk = pending[start : start + self.batch_size]
            rows = self.predict([data for _, data in chunk])
            for (i, _), row in zip(chunk, rows):
                source = source_name(items[i], i)
                error = row.get("error") or None
                if error:
                    results[i] = Transcription(source, error=f"{source}: {error}")
                else:
                    results[i] = Transcription(source, row["text"], float(row["score"]))
        return results


__all__ = ["ServingClient", "PROTOCOLS", "ServingError", "encode_for_server"]

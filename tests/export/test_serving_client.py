"""`ServingClient` against stand-in TF Serving servers (REST and gRPC) on 127.0.0.1, and no server."""

import socket
import threading
from concurrent import futures

import pytest

from export_line_images import encode, render_line


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the socket is


@pytest.fixture(scope="module")
def rest_url(servable):
    """The adapter's HTTP server, speaking TF Serving's REST API on a free local port."""
    from local_servable import rest_server

    server = rest_server(servable, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def grpc_target(servable):
    """A gRPC PredictionService backed by the adapter."""
    import grpc
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    from local_servable import RequestError

    class Service(prediction_service_pb2_grpc.PredictionServiceServicer):
        def Predict(self, request, context):
            try:
                return servable.predict(request)
            except RequestError as e:
                code = grpc.StatusCode.INVALID_ARGUMENT
                if e.status == 404:
                    code = grpc.StatusCode.NOT_FOUND
                context.abort(code, str(e))

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(Service(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield f"127.0.0.1:{port}"
    server.stop(None)


@pytest.mark.parametrize("protocol", ["rest", "grpc"])
def test_client_transcribes_like_keras(
    protocol, rest_url, grpc_target, line_files, keras_texts, tmp_path
):
    from keras_htr.export.serving import ServingClient

    url = rest_url if protocol == "rest" else grpc_target
    client = ServingClient(url, "htr", protocol=protocol, batch_size=7)
    tiff = tmp_path / "line.tif"  # decoded on the host, sent as PNG
    render_line("over the dog", seed=9).save(tiff, format="TIFF")
    png = tmp_path / "line.png"
    render_line("over the dog", seed=9).save(png, format="PNG")
    results = client.transcribe(line_files + [str(tiff), str(png), str(tmp_path / "missing.png")])
    n = len(line_files)
    assert [r.text for r in results[:n]] == keras_texts
    assert all(r.ok and 0 < r.score <= 1 for r in results[: n + 2])
    assert results[n].text == results[n + 1].text
    assert not results[-1].ok and "missing.png" in results[-1].error


def test_client_reports_server_side_errors_per_element(rest_url):
    from keras_htr.export.serving import ServingClient

    truncated = encode(render_line("abc", seed=4))[:100]
    good = encode(render_line("abc", seed=4))
    results = ServingClient(rest_url, "htr").transcribe([truncated, good])
    assert not results[0].ok and "corrupt" in results[0].error and "<bytes 0>" in results[0].error
    assert results[1].ok


@pytest.mark.parametrize("protocol", ["rest", "grpc"])
def test_client_model_missing(protocol, rest_url, grpc_target):
    from keras_htr.export.serving import ServingClient, ServingError

    url = rest_url if protocol == "rest" else grpc_target
    with pytest.raises(ServingError, match="Servable not found for request: Latest\\(nope\\)"):
        ServingClient(url, "nope", protocol=protocol).transcribe([encode(render_line("a", seed=1))])


@pytest.mark.parametrize("protocol", ["rest", "grpc"])
def test_client_server_down(protocol):
    from keras_htr.export.serving import ServingClient, ServingError

    url = f"127.0.0.1:{closed_port()}"
    url = "http://" + url if protocol == "rest" else url
    with pytest.raises(ServingError, match="Cannot reach TF Serving .*is the server running"):
        ServingClient(url, "htr", timeout=5).transcribe([encode(render_line("a", seed=1))])


def test_client_status_and_arguments(rest_url):
    from keras_htr.export.serving import ServingClient, ServingError

    status = ServingClient(rest_url, "htr").status()
    assert status["model_version_status"][0]["state"] == "AVAILABLE"
    with pytest.raises(ServingError, match="HTTP 404"):
        ServingClient(rest_url, "nope").status()
    png = encode(render_line("dog", seed=2))
    assert ServingClient(rest_url, "htr", version=3).transcribe([png])[0].ok
    with pytest.raises(ServingError, match="Specific\\(htr, 2\\)"):
        ServingClient(rest_url, "htr", version=2).transcribe([png])
    assert ServingClient("localhost:8500").protocol == "grpc"
    assert ServingClient("http://localhost:8501").protocol == "rest"
    with pytest.raises(ValueError, match="argument `protocol`"):
        ServingClient("localhost:8500", protocol="soap")
    with pytest.raises(ValueError, match="argument `batch_size`"):
        ServingClient("localhost:8500", batch_size=0)

"""The /metrics page holds series only for what the server has: held products, a fleet when it has one."""

import urllib.request

import grpc
from patchcore_edge.v1 import inspection_pb2 as pb
from reliability_support import inspect_request, start_server, stub_for, teach_request


def metrics_page(server) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{server.metrics_port}/metrics", timeout=10) as page:
        return page.read().decode()


def test_a_deleted_product_leaves_no_series_and_a_server_without_a_fleet_exports_no_fleet_gauges(
    tiny_model, tmp_path
):
    server = start_server(tiny_model, tmp_path / "store", tmp_path)
    with server, grpc.insecure_channel(server.target) as channel:
        stub = stub_for(channel)
        for product in ("kept", "gone"):
            stub.Teach(teach_request(product, seed=1))
            stub.Inspect(inspect_request(product))
            list(
                stub.InspectStream(iter([pb.InspectRequest(product_id=product)]))
            )  # a failed frame: no image
        before = metrics_page(server)
        stub.DeleteProduct(pb.DeleteProductRequest(product_id="gone"))
        after = metrics_page(server)
    for page in (before, after):
        assert 'patchcore_inference_request_success_total{product="kept"}' in page
        assert 'patchcore_inference_request_failure_total{code="INVALID_ARGUMENT",product="kept"}' in page
        assert "patchcore_fleet" not in page
    assert 'product="gone"' in before
    assert 'product="gone"' not in after

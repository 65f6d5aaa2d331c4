"""The Prometheus endpoint on its own port serves the Triton-style metric names."""

import numpy as np
from patchcore_client.synthetic import defective_part
from patchcore_edge.v1 import inspection_pb2 as pb
from server_helpers import PRODUCT, encoded, scrape

METRIC_NAMES = (
    "patchcore_inference_request_success_total",
    "patchcore_inference_request_failure_total",
    "patchcore_inference_count_total",
    "patchcore_inference_exec_count_total",
    "patchcore_inference_request_duration_us_bucket",
    "patchcore_inference_queue_duration_us_bucket",
    "patchcore_inference_compute_infer_duration_us_bucket",
    "patchcore_inference_pending_request_count",
    "patchcore_anomalies_total",
    "patchcore_teach_duration_seconds_bucket",
    "patchcore_products",
    "patchcore_rebuilds_pending",
)


def test_metrics_count_frames_anomalies_and_failures(served, stub, taught):
    defect = encoded(defective_part(np.random.default_rng(20), "scratch"))
    before = scrape(served.metrics_port)
    assert stub.Inspect(pb.InspectRequest(product_id=PRODUCT, image=defect)).anomalous
    next(stub.InspectStream(iter([pb.InspectRequest(product_id="not-there", image=defect)])))
    after = scrape(served.metrics_port)

    for name in METRIC_NAMES:
        assert any(sample.startswith(name) for sample in after), name
    success = f'patchcore_inference_request_success_total{{product="{PRODUCT}"}}'
    anomalies = f'patchcore_anomalies_total{{product="{PRODUCT}"}}'
    failure = 'patchcore_inference_request_failure_total{code="NOT_FOUND",product="_unknown"}'
    assert after[success] == before.get(success, 0) + 1
    assert after[anomalies] == before.get(anomalies, 0) + 1
    assert after[failure] == before.get(failure, 0) + 1
    assert after["patchcore_inference_count_total"] > before["patchcore_inference_count_total"]

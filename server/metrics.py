"""Prometheus metrics, named after Triton's inference metrics (nv_inference_* -> patchcore_inference_*).

  patchcore_inference_request_success_total{product}       frames answered with a score
  patchcore_inference_request_failure_total{product,code}  frames answered with an error (gRPC code name)
  patchcore_inference_count_total                          frames sent to the model
  patchcore_inference_exec_count_total                     model executions (batches)
  patchcore_inference_request_duration_us{product}         request received -> response ready
  patchcore_inference_queue_duration_us                    waiting for a batch
  patchcore_inference_compute_infer_duration_us            one batch: features + nearest neighbours
  patchcore_inference_pending_request_count                frames waiting for the model now
  patchcore_open_calls                                     InspectionService calls open now (streams too)
  patchcore_anomalies_total{product}                       frames judged anomalous
  patchcore_teach_duration_seconds                         one Teach, end to end
  patchcore_products{usable}                               products held
  patchcore_rebuilds_pending                               products waiting for or in a rebuild for the model
  patchcore_calls_refused_total{code}                      calls and page requests refused (server/auth.py)
  patchcore_fleet_connected                                with a fleet: 1 while connected to its store
  patchcore_fleet_sync_lag_seconds                         with a fleet: stored on a server -> served here

Every metric lives in the server's own registry, so several servers in one process (tests) do not clash.
"""

from __future__ import annotations

from collections.abc import Collection

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

_MICROSECOND_BUCKETS = tuple(
    float(b)
    for b in (
        500,
        1_000,
        2_500,
        5_000,
        10_000,
        25_000,
        50_000,
        100_000,
        250_000,
        500_000,
        1_000_000,
        2_500_000,
        10_000_000,
    )
)
_TEACH_BUCKETS = (0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)

# Label value for frames that name no known product, so garbage ids cannot blow up the label set.
UNKNOWN_PRODUCT = "_unknown"


class ServerMetrics:
    def __init__(self, fleet: bool = False) -> None:
        """fleet: export the fleet gauges (a server on its own has no fleet to be connected to)."""
        self.registry = CollectorRegistry()
        r = self.registry
        self.request_success = Counter(
            "patchcore_inference_request_success", "Frames answered with a score.", ["product"], registry=r
        )
        self.request_failure = Counter(
            "patchcore_inference_request_failure",
            "Frames answered with an error, by gRPC status code.",
            ["product", "code"],
            registry=r,
        )
        self.inference_count = Counter("patchcore_inference_count", "Frames sent to the model.", registry=r)
        self.exec_count = Counter(
            "patchcore_inference_exec_count", "Model executions (one per batch).", registry=r
        )
        self.request_duration_us = Histogram(
            "patchcore_inference_request_duration_us",
            "Time from receiving a frame to its response being ready, microseconds.",
            ["product"],
            buckets=_MICROSECOND_BUCKETS,
            registry=r,
        )
        self.queue_duration_us = Histogram(
            "patchcore_inference_queue_duration_us",
            "Time a frame waited for its batch, microseconds.",
            buckets=_MICROSECOND_BUCKETS,
            registry=r,
        )
        self.compute_infer_duration_us = Histogram(
            "patchcore_inference_compute_infer_duration_us",
            "Time of one batch's model run (feature extraction), microseconds.",
            buckets=_MICROSECOND_BUCKETS,
            registry=r,
        )
        self.pending_requests = Gauge(
            "patchcore_inference_pending_request_count", "Frames waiting for the model.", registry=r
        )
        self.open_calls = Gauge(
            "patchcore_open_calls",
            "InspectionService calls open now, open streams included (capped by --max-calls).",
            registry=r,
        )
        self.anomalies = Counter("patchcore_anomalies", "Frames judged anomalous.", ["product"], registry=r)
        self.teach_duration_seconds = Histogram(
            "patchcore_teach_duration_seconds",
            "Duration of one Teach, seconds.",
            buckets=_TEACH_BUCKETS,
            registry=r,
        )
        self.products = Gauge("patchcore_products", "Products held, by usability.", ["usable"], registry=r)
        self.rebuilds_pending = Gauge(
            "patchcore_rebuilds_pending",
            "Products built with another model waiting for or in a rebuild for the loaded model.",
            registry=r,
        )
        self.calls_refused = Counter(
            "patchcore_calls_refused",
            "InspectionService calls and operator-page requests refused for their token: missing or unknown "
            "(UNAUTHENTICATED), or of a role too low for the method (PERMISSION_DENIED, also a page change "
            "sent without the page's header).",
            ["code"],
            registry=r,
        )
        for code in ("UNAUTHENTICATED", "PERMISSION_DENIED"):
            self.calls_refused.labels(code)  # exported as 0 from the start
        self.fleet_connected = Gauge(
            "patchcore_fleet_connected",
            "1 while the server is connected to its fleet's product store, else 0.",
            registry=r if fleet else None,
        )
        self.fleet_sync_lag_seconds = Gauge(
            "patchcore_fleet_sync_lag_seconds",
            "Seconds from a version being stored by a server of the fleet to this server serving it, for the "
            "last version received (the two servers' clocks).",
            registry=r if fleet else None,
        )

    def keep_products(self, held: Collection[str]) -> None:
        """Removes the series of products not in `held` (deleted here or by the fleet), so the label sets
        do not grow until a restart."""
        keep = {*held, UNKNOWN_PRODUCT}
        per_product = (
            (self.request_success, ("product",)),
            (self.request_failure, ("product", "code")),
            (self.request_duration_us, ("product",)),
            (self.anomalies, ("product",)),
        )
        for metric, names in per_product:
            stale = {
                tuple(sample.labels[name] for name in names)
                for family in metric.collect()
                for sample in family.samples
                if sample.labels["product"] not in keep
            }
            for labels in stale:
                metric.remove(*labels)

    def serve(self, host: str, port: int) -> None:
        """Serves /metrics over HTTP on a background thread."""
        start_http_server(port, addr=host, registry=self.registry)

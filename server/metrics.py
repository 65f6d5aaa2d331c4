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
The per-product series exist only for the products the server holds (ProductSeries).
"""

from __future__ import annotations

from collections.abc import Collection

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.metrics import MetricWrapperBase

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


class ProductSeries:
    """The series of one product the server holds, each made on its first use.

    A frame looks its product's ProductSeries up when it is answered; the product may be deleted before it
    records. drop() takes the series off the metrics, so what a frame records afterwards goes into series
    no longer exported, instead of making them again (labels() would): a deleted product does not come back
    on /metrics. Looking up and recording take no lock of their own."""

    def __init__(self, metrics: ServerMetrics, product: str) -> None:
        self._metrics = metrics
        self._product = product
        self._children: dict[tuple[MetricWrapperBase, tuple[str, ...]], MetricWrapperBase] = {}
        self._dropped = False

    def count_answer(self, anomalous: bool, microseconds: float) -> None:
        """A frame answered with a score."""
        self._child(self._metrics.request_success).inc()
        if anomalous:
            self._child(self._metrics.anomalies).inc()
        self._child(self._metrics.request_duration_us).observe(microseconds)

    def count_failure(self, code: str) -> None:
        """A frame answered with an error of this gRPC status code name."""
        self._child(self._metrics.request_failure, code).inc()

    def drop(self) -> None:
        """Removes the series from the metrics: the product is no longer held."""
        self._dropped = True
        for metric, labels in list(self._children):
            metric.remove(self._product, *labels)

    def _child(self, metric: MetricWrapperBase, *labels: str) -> MetricWrapperBase:
        key = (metric, labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(self._product, *labels)
            if self._dropped:  # made while drop() ran, or after: it must not stay exported
                metric.remove(self._product, *labels)
        return child


class ServerMetrics:
    def __init__(self, fleet: bool = False) -> None:
        """fleet: export the fleet gauges (a server on its own has no fleet to be connected to)."""
        # Replaced whole by keep_products, never changed in place: frames read it without a lock.
        self._series: dict[str, ProductSeries] = {}
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

    def series_of(self, product: str) -> ProductSeries | None:
        """The series of a product the server holds; None for any other id (deleted, never taught)."""
        return self._series.get(product)

    def count_failure(self, product: str, code: str) -> None:
        """A frame answered with an error: counted for its product while the server holds it, else for
        UNKNOWN_PRODUCT."""
        series = self.series_of(product)
        if series is None:
            self.request_failure.labels(UNKNOWN_PRODUCT, code).inc()
        else:
            series.count_failure(code)

    def keep_products(self, held: Collection[str]) -> None:
        """The products the server holds are `held` now: products no longer held (deleted here or by the
        fleet) lose their series, so the label sets do not grow until a restart and a deleted product does
        not come back. Callers take turns (server/service.py count_products)."""
        previous = self._series
        self._series = {product: previous.get(product) or ProductSeries(self, product) for product in held}
        for product, series in previous.items():
            if product not in self._series:
                series.drop()

    def serve(self, host: str, port: int) -> None:
        """Serves /metrics over HTTP on a background thread."""
        start_http_server(port, addr=host, registry=self.registry)

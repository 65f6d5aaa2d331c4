"""Builds the running server from its parts and takes it down again: start, drain, stop.

The gRPC service runs on grpc.aio: every call is a coroutine on one event loop, which only reads, writes and
waits. Decoding, preparing, the nearest-neighbour search and verdicts run in a small decode pool, the model
in the batcher's worker threads, teaching and storing in threads of their own. A fleet's NATS client
(server/fleet) shares the event loop.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import os
import time

import cv2
import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio
from grpc_reflection.v1alpha import reflection
from patchcore_edge.v1 import inspection_pb2_grpc
from threadpoolctl import threadpool_limits

from patchcore.store import ProductStore
from patchcore.store_lock import StoreLock
from server.auth import RefusalLog, RoleInterceptor, load_tokens, warn_if_open
from server.batcher import InferenceBatcher
from server.config import ServerConfig, host_port
from server.fair_executor import FairExecutor
from server.fleet.fleet import Fleet, FleetStatus
from server.frames import FrameProcessor
from server.interceptors import SERVICE_NAME, DrainInterceptor
from server.lifecycle import Lifecycle
from server.logs import log_event
from server.message_size import transport_limit
from server.metrics import ServerMetrics
from server.model_sessions import open_model
from server.products import ProductRegistry
from server.rebuild import Rebuilder, RebuildQueue
from server.request_bytes import RequestBytesInterceptor
from server.service import InspectionService
from server.teach_frames import prepare_teach_files
from server.tls import server_credentials, tls_mode, warn_if_expiring, warn_if_exposed
from server.web.access import PageAccess
from server.web.page import OperatorPage, PageThread
from server.web.recorder import FrameRecorder

# Clients keep a call alive with pings every 10 s (the Python client, the C++ examples); the server takes them
# twice as often, so a client's timer jitter never counts as a strike.
KEEPALIVE_MIN_CLIENT_PING_MS = 5_000


class InspectionServer:
    """Loads the model and every stored product, then serves InspectionService, health and reflection.

    Build it inside the running event loop (grpc.aio binds the server to it).
    """

    def __init__(self, config: ServerConfig) -> None:
        started = time.perf_counter()
        # BLAS and OpenMP pools (numpy, FAISS) and OpenCV run single-threaded: the decode pool already
        # prepares frames in parallel beside ONNX Runtime's threads, and helper threads took the cores from
        # them (README "Performance").
        threadpool_limits(limits=1)
        cv2.setNumThreads(1)
        self.config = config
        self.tokens = load_tokens(config.tokens_file, admin_tokens=(config.token,))
        warn_if_open(self.tokens, config.host)
        self.metrics = ServerMetrics(fleet=bool(config.fleet_store))
        self.lifecycle = Lifecycle(max_calls=config.max_calls)
        self.metrics.open_calls.set_function(lambda: self.lifecycle.in_flight)
        local = ProductStore(config.store)
        self.store_lock = StoreLock(config.store, "a patchcore-edge server")
        try:
            self._build(config, local)
        except BaseException:
            self.store_lock.release()
            raise
        self.load_seconds = time.perf_counter() - started

    def _build(self, config: ServerConfig, local: ProductStore) -> None:
        self.extractor, beside = open_model(config)
        self.rebuilds = RebuildQueue(self.metrics.rebuilds_pending)
        self.fleet = (
            Fleet(config.fleet_store, config.fleet_creds, config.fleet_bucket, local, self.metrics)
            if config.fleet_store
            else None
        )
        self.registry = ProductRegistry(
            self.fleet.store if self.fleet else local,
            self.extractor,
            functools.partial(prepare_teach_files, max_pixels=config.max_image_pixels),
            self.rebuilds.add,
        )
        self.registry.load_all()
        self.batcher = InferenceBatcher(
            self.extractor,
            self.metrics,
            config.max_batch,
            config.max_wait_ms,
            config.queue_size,
            workers=config.model_workers,
            beside=beside,
        )
        self.decode_pool = FairExecutor(config.decode_threads or os.cpu_count() or 1, name="decode")
        self.recorder = FrameRecorder()  # the web page's recent frames
        frames = FrameProcessor(
            self.registry,
            self.batcher,
            self.lifecycle,
            self.metrics,
            max_image_pixels=config.max_image_pixels,
            max_message_bytes=config.max_message_bytes,
            decode_pool=self.decode_pool,
            record=self.recorder.record,
            record_failure=self.recorder.record_failure,
        )
        self.service = InspectionService(
            config,
            self.extractor.info,
            self.registry,
            frames,
            self.metrics,
            self.fleet.status if self.fleet else FleetStatus,
        )
        if self.fleet:
            self.fleet.follow(self.registry, self.service.count_products)
        self.rebuilder = Rebuilder(self.registry, self.rebuilds, self.extractor, self.service.count_products)
        self.page = None
        if config.web_port:
            # The page's refusals have a log of their own: the page runs on a thread of its own.
            access = PageAccess(self.tokens, RefusalLog(self.metrics.calls_refused))
            self.page = PageThread(OperatorPage(config, self.service, self.recorder, access))
        self.health = health_aio.HealthServicer()
        # The port bound: the one the system chose for --port 0.
        self.grpc_server, self.port = self._build_grpc_server()

    def _build_grpc_server(self) -> tuple[grpc.aio.Server, int]:
        interceptors: list[grpc.aio.ServerInterceptor] = [
            RequestBytesInterceptor(self.config.max_message_bytes),
            DrainInterceptor(self.lifecycle),
        ]
        if self.tokens:
            interceptors.insert(0, RoleInterceptor(self.tokens, RefusalLog(self.metrics.calls_refused)))
        server = grpc.aio.server(
            interceptors=interceptors,
            options=[
                # Above --max-message-bytes, so a stream answers an oversized frame (server/message_size.py).
                ("grpc.max_receive_message_length", transport_limit(self.config.max_message_bytes)),
                ("grpc.max_send_message_length", self.config.max_message_bytes),
                ("grpc.max_concurrent_streams", self.config.max_streams_per_connection),
                # gRPC binds with SO_REUSEPORT by default: a second server on a taken port would start and
                # share its connections with the first instead of failing.
                ("grpc.so_reuseport", 0),
                # Keepalive both ways: clients may ping every KEEPALIVE_MIN_CLIENT_PING_MS while a call is
                # open, so a client learns that a server froze; the server pings connections quiet for
                # 60 s, so a client that vanished without closing frees its calls. The option's name is
                # GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS's (gRPC ignores names it does not
                # know, and its default of 5 minutes sent GOAWAY to the third ping of a quiet call).
                ("grpc.http2.min_ping_interval_without_data_ms", KEEPALIVE_MIN_CLIENT_PING_MS),
                # The same between calls (a line PC's client that keeps its connection warm), where gRPC
                # would allow one ping per 2 hours.
                ("grpc.keepalive_permit_without_calls", 1),
                ("grpc.keepalive_time_ms", 60_000),
                ("grpc.keepalive_timeout_ms", 20_000),
            ],
        )
        inspection_pb2_grpc.add_InspectionServiceServicer_to_server(self.service, server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        services = (
            SERVICE_NAME,
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
            reflection.SERVICE_NAME,
        )
        reflection.enable_server_reflection(services, server)
        address = host_port(self.config.host, self.config.port)
        credentials = server_credentials(self.config.tls_cert, self.config.tls_key, self.config.tls_client_ca)
        warn_if_exposed(self.config.host, tls=credentials is not None)
        if credentials:
            warn_if_expiring(self.config.tls_cert)
        try:
            bound = (
                server.add_secure_port(address, credentials)
                if credentials
                else server.add_insecure_port(address)
            )
        except RuntimeError:  # grpc.aio raises where the synchronous server returned 0
            bound = 0
        if bound == 0:
            raise OSError(f"cannot listen on {address}: the port is taken or the address is not local")
        return server, bound

    async def start(self) -> None:
        self.service.count_products()
        if self.config.metrics_port:
            try:
                self.metrics.serve(self.config.host, self.config.metrics_port)
            except OSError as error:
                raise _listen_error(
                    "for metrics", self.config.host, "--metrics-port", self.config.metrics_port, error
                ) from error
        await self.grpc_server.start()
        if self.fleet:
            self.fleet.start()
        if self.page:
            try:
                await asyncio.to_thread(self.page.start)
            except OSError as error:
                raise _listen_error(
                    "for the web page", self.config.host, "--web-port", self.config.web_port, error
                ) from error
        for name in ("", SERVICE_NAME):
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        info = self.extractor.info
        log_event(
            "server_started",
            address=host_port(self.config.host, self.port),
            metrics_port=self.config.metrics_port or None,
            web_port=self.config.web_port or None,
            model=str(self.config.model),
            backbone=info.backbone,
            fingerprint=info.fingerprint[:12],
            products=len(self.registry.entries()),
            rebuilds_pending=self.rebuilds.pending(),
            load_seconds=round(self.load_seconds, 3),
            tokens=self.tokens.roles() if self.tokens else None,
            tls=tls_mode(self.config.tls_cert, self.config.tls_client_ca),
        )
        self.rebuilder.start()

    async def shutdown(self) -> None:
        """Drains, then stops: health NOT_SERVING, new calls UNAVAILABLE, calls in flight get the grace."""
        await self.health.enter_graceful_shutdown()
        if self.page:
            await asyncio.to_thread(self.page.stop)
        log_event("server_draining", grace_seconds=self.config.grace_seconds)
        remaining = await self.lifecycle.drain(self.config.grace_seconds)
        await self.grpc_server.stop(grace=0)
        await asyncio.to_thread(self.rebuilder.stop)
        if self.fleet:
            await self.fleet.stop()
        await asyncio.to_thread(self.batcher.close)
        await asyncio.to_thread(self.decode_pool.shutdown)
        await asyncio.to_thread(self.registry.close)
        self.store_lock.release()
        log_event("server_stopped", cancelled_calls=remaining)


def _listen_error(listener: str, host: str, flag: str, port: int, error: OSError) -> OSError:
    """`error` of binding `port` as an operator reads it: which listener, where, why, and which flag."""
    reasons = {errno.EADDRINUSE: "the port is taken", errno.EADDRNOTAVAIL: "the address is not local"}
    reason = reasons.get(error.errno, error.strerror or str(error))
    return OSError(f"cannot listen {listener} on {host_port(host, port)}: {reason} ({flag} {port})")

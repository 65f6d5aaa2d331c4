"""InspectionClient: the patchcore-edge API as Python methods.

Errors: a failed call raises grpc.RpcError; `error.code()` is a grpc.StatusCode (INVALID_ARGUMENT bad input,
NOT_FOUND unknown product, FAILED_PRECONDITION product built for another model or being rebuilt for this one,
RESOURCE_EXHAUSTED too large or server busy, ABORTED the product is not at the expected_version given,
UNAVAILABLE server down or shutting down) and `error.details()` a message for an operator.
Changes take `expected_version` (0 = any): the call is ABORTED, and nothing changes, when the product has
moved on since it was read.
In `inspect_stream` a failed frame does not raise: its result carries `.error` and the stream goes on.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from patchcore_edge.v1 import inspection_pb2 as pb
from patchcore_edge.v1 import inspection_pb2_grpc

from patchcore_client.images import ImageLike, to_image
from patchcore_client.results import InspectionResult, result_from_response

DEFAULT_TARGET = "127.0.0.1:50051"
DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024

HEATMAP_FORMATS = {
    "none": pb.HEATMAP_FORMAT_NONE,
    "float32": pb.HEATMAP_FORMAT_FLOAT32,
    "png": pb.HEATMAP_FORMAT_PNG,
}


def _heatmap_format(heatmap: str | int) -> int:
    if isinstance(heatmap, int):
        return heatmap
    if heatmap not in HEATMAP_FORMATS:
        raise ValueError(f"heatmap must be one of {sorted(HEATMAP_FORMATS)}, got {heatmap!r}")
    return HEATMAP_FORMATS[heatmap]


# After `health(wait=...)` saw no answer: the one check that says why, within the probe's budget (the unit's
# TimeoutStartSec=180 leaves 10 s beyond its --wait 170).
LAST_HEALTH_CHECK_SECONDS = 5.0


def check_token(token: str) -> None:
    """ValueError unless `token` can travel in a gRPC header (printable ASCII): gRPC would refuse every
    call with INTERNAL "Invalid metadata" instead, which says nothing of the token."""
    if any(ord(character) < 0x20 or ord(character) == 0x7F for character in token):
        raise ValueError("the token holds a control character (a line end from a file saved on Windows?)")
    if not token.isascii():
        raise ValueError("the token holds a character that is not ASCII, which a gRPC header cannot carry")


class InspectionClient:
    """A connection to a patchcore-edge server, or to several serving the same products (a fleet).

    target: "host:port"; several servers as "ipv4:host:port,host:port" or a DNS name ("dns:///line-7:50051")
    resolving to several addresses: calls are spread over them round robin, each call (a whole stream) on
    one server, and a server that goes away is left out until it is back.
    timeout: seconds per unary call (None = no deadline). root_certificates: PEM bytes of the CA that signed
    the server's certificate, to connect with TLS (None = plaintext).
    client_certificate, client_key: PEM bytes of this client's certificate chain and private key, for a
    server that requires mutual TLS. token: sent as `authorization: Bearer <token>` when the server
    requires one. channel_order: how [H, W, 3] arrays are laid out, "rgb" or "bgr" (OpenCV).
    """

    def __init__(
        self,
        target: str = DEFAULT_TARGET,
        *,
        timeout: float | None = None,
        root_certificates: bytes | None = None,
        client_certificate: bytes | None = None,
        client_key: bytes | None = None,
        token: str | None = None,
        channel_order: str = "rgb",
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    ) -> None:
        options = [
            ("grpc.max_send_message_length", max_message_bytes),
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.lb_policy_name", "round_robin"),  # over every address the target names
            # While a call is open, keepalive pings (the server allows one every 5 s): a server that froze
            # ends the call with UNAVAILABLE (in about a minute) instead of leaving it waiting for ever.
            ("grpc.keepalive_time_ms", 10_000),
            ("grpc.keepalive_timeout_ms", 10_000),
            ("grpc.http2.max_pings_without_data", 0),  # gRPC's default stops pinging after 2 without data
        ]
        if (client_certificate is None) != (client_key is None):
            raise ValueError("give both client_certificate and client_key, or neither")
        if token:
            check_token(token)
        if root_certificates is None and client_certificate is None:
            self._channel = grpc.insecure_channel(target, options=options)
        else:
            credentials = grpc.ssl_channel_credentials(
                root_certificates=root_certificates,
                private_key=client_key,
                certificate_chain=client_certificate,
            )
            self._channel = grpc.secure_channel(target, credentials, options=options)
        self._stub = inspection_pb2_grpc.InspectionServiceStub(self._channel)
        self._timeout = timeout
        self._metadata = (("authorization", f"Bearer {token}"),) if token else ()
        self._channel_order = channel_order

    def __enter__(self) -> InspectionClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._channel.close()

    def wait_ready(self, timeout: float) -> None:
        """Blocks until the channel is connected; grpc.FutureTimeoutError after `timeout` seconds."""
        grpc.channel_ready_future(self._channel).result(timeout=timeout)

    def teach(
        self,
        product_id: str,
        images: Sequence[ImageLike],
        *,
        coreset_ratio: float = 0.0,
        augment_rotations: bool = False,
        contrast_stretch: bool = False,
        threshold_scale: float = 0.0,
        top_k: int = 0,
        roi: tuple[int, int, int, int] | None = None,
        tile_size: int = 0,
        line_views: int | None = None,
        align: bool = False,
        expected_version: int = 0,
    ) -> pb.Product:
        """Teaches `product_id` from images of good parts (8 is the reference case); returns the new version.

        roi: (x, y, width, height) in frame pixels, the region of interest every frame of the product is
        cropped to (None = the whole frame). tile_size: cover the frame (or ROI) with tiles of this many
        pixels, each one model input, for high-resolution frames with small defects (0 = no tiling).
        line_views: extra views of each image as a line varies it, learnt as good (None = the server's
        default, 0 = off). align: turn and shift every frame onto the first teach image before
        inspecting it, for parts that move in their fixture. Options left at 0 take the server's defaults.
        """
        options = pb.TeachOptions(
            coreset_ratio=coreset_ratio,
            augment_rotations=augment_rotations,
            contrast_stretch=contrast_stretch,
            threshold_scale=threshold_scale,
            top_k=top_k,
            tile_size=tile_size,
            align=align,
        )
        if line_views is not None:
            options.line_views = line_views
        if roi is not None:
            x, y, width, height = roi
            options.roi.CopyFrom(pb.Rect(x=x, y=y, width=width, height=height))
        request = pb.TeachRequest(
            product_id=product_id,
            images=[to_image(image, self._channel_order) for image in images],
            options=options,
            expected_version=expected_version,
        )
        return self._stub.Teach(request, timeout=self._timeout, metadata=self._metadata)

    def add_images(
        self, product_id: str, images: Sequence[ImageLike], expected_version: int = 0
    ) -> pb.Product:
        """Teaches `product_id` more good images (e.g. a frame it flagged that is good); returns the new
        version, built from all its images with the threshold recomputed."""
        request = pb.AddImagesRequest(
            product_id=product_id,
            images=[to_image(image, self._channel_order) for image in images],
            expected_version=expected_version,
        )
        return self._stub.AddImages(request, timeout=self._timeout, metadata=self._metadata)

    def inspect(
        self, product_id: str, image: ImageLike, frame_id: int = 0, heatmap: str | int = "none"
    ) -> InspectionResult:
        """Scores one frame. heatmap: "none", "float32" (decoded to an array) or "png" (an overlay)."""
        request = self._inspect_request(product_id, frame_id, image, _heatmap_format(heatmap))
        response = self._stub.Inspect(request, timeout=self._timeout, metadata=self._metadata)
        return result_from_response(response)

    def inspect_stream(
        self,
        product_id: str,
        frames: Iterable[tuple[int, ImageLike]],
        heatmap: str | int = "none",
    ) -> Iterator[InspectionResult]:
        """Scores (frame_id, image) pairs over one stream; yields one result per frame, in order.

        Frames are sent as the iterator yields them and the server's flow control paces the sending.
        """
        heatmap_format = _heatmap_format(heatmap)
        requests = (
            self._inspect_request(product_id, frame_id, image, heatmap_format) for frame_id, image in frames
        )
        for response in self._stub.InspectStream(requests, metadata=self._metadata):
            yield result_from_response(response)

    def get_product(self, product_id: str) -> pb.Product:
        request = pb.GetProductRequest(product_id=product_id)
        return self._stub.GetProduct(request, timeout=self._timeout, metadata=self._metadata)

    def list_products(self) -> list[pb.Product]:
        request = pb.ListProductsRequest()
        return list(self._stub.ListProducts(request, timeout=self._timeout, metadata=self._metadata).products)

    def update_product(
        self,
        product_id: str,
        *,
        threshold: float | None = None,
        top_k: int | None = None,
        min_region_area: int | None = None,
        expected_version: int = 0,
    ) -> pb.Product:
        """Changes the options given (not None) without re-teaching; returns the new version."""
        changes = {"threshold": threshold, "top_k": top_k, "min_region_area": min_region_area}
        given = {name: value for name, value in changes.items() if value is not None}
        if not given:
            raise ValueError("update_product needs at least one of threshold, top_k, min_region_area")
        request = pb.UpdateProductRequest(
            product_id=product_id,
            options=pb.ProductOptions(**given),
            update_fields=sorted(given),
            expected_version=expected_version,
        )
        return self._stub.UpdateProduct(request, timeout=self._timeout, metadata=self._metadata)

    def delete_product(self, product_id: str, expected_version: int = 0) -> int:
        """Deletes the product; returns the version that was current."""
        request = pb.DeleteProductRequest(product_id=product_id, expected_version=expected_version)
        response = self._stub.DeleteProduct(request, timeout=self._timeout, metadata=self._metadata)
        return response.deleted_version

    def server_info(self) -> pb.ServerInfo:
        request = pb.GetServerInfoRequest()
        return self._stub.GetServerInfo(request, timeout=self._timeout, metadata=self._metadata)

    def health(self, service: str = "", wait: float = 0.0) -> str:
        """The standard gRPC health status of `service` ("" = the whole server): "SERVING", "NOT_SERVING",
        "SERVICE_UNKNOWN". Health needs no token. With `wait` > 0, waits up to `wait` seconds for the server
        to come up and report SERVING, and returns the last status seen; grpc.RpcError if none came: then,
        after one last check that does not wait, its error, which says why the channel did not connect
        (nothing listening, a TLS handshake refused) where waiting only says the time ran out."""
        health = health_pb2_grpc.HealthStub(self._channel)
        request = health_pb2.HealthCheckRequest(service=service)
        if wait <= 0:
            return _status_name(health.Check(request, timeout=self._timeout))
        last = None
        try:
            for answer in health.Watch(request, timeout=wait, wait_for_ready=True):
                last = answer
                if answer.status == health_pb2.HealthCheckResponse.SERVING:
                    break
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.DEADLINE_EXCEEDED:
                raise
            if last is None:
                return _status_name(health.Check(request, timeout=LAST_HEALTH_CHECK_SECONDS))
        return _status_name(last)

    def _inspect_request(
        self, product_id: str, frame_id: int, image: ImageLike, heatmap_format: int
    ) -> pb.InspectRequest:
        return pb.InspectRequest(
            product_id=product_id,
            frame_id=frame_id,
            image=to_image(image, self._channel_order),
            heatmap=heatmap_format,
        )


def _status_name(answer: health_pb2.HealthCheckResponse) -> str:
    return health_pb2.HealthCheckResponse.ServingStatus.Name(answer.status)

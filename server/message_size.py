"""The message size limit (--max-message-bytes) and the larger limit of the transport under it.

grpcio refuses a message over its receive limit before the service sees it, and in InspectStream that ends
the whole stream. So the transport takes messages up to TRANSPORT_LIMIT_FACTOR x --max-message-bytes, and
the service refuses those over --max-message-bytes itself: a unary call with RESOURCE_EXHAUSTED, a frame of
a stream with its own RESOURCE_EXHAUSTED error while the stream goes on. Only a message over the transport
limit still ends the call (README "Running the server", the InspectStream comment in the proto).
"""

from __future__ import annotations

from dataclasses import dataclass

from patchcore.errors import TooLarge

TRANSPORT_LIMIT_FACTOR = 2
_GRPC_LIMIT_MAX = 2**31 - 1  # grpcio's message length options are C ints


def transport_limit(max_message_bytes: int) -> int:
    """The receive limit given to grpcio for a server whose messages may have `max_message_bytes`."""
    return min(TRANSPORT_LIMIT_FACTOR * max_message_bytes, _GRPC_LIMIT_MAX)


# A Teach or AddImages message carries every image of the call, so "a smaller image" is not what helps there.
_IMAGE_SET_METHODS = ("Teach", "AddImages")


def message_too_large(size: int, max_message_bytes: int, method: str = "") -> TooLarge:
    """method: the call's method name ("Teach", "Inspect"), which picks the advice."""
    if method in _IMAGE_SET_METHODS:
        advice = (
            f"a {method} carries all its images in one message: start the server with a larger "
            "--max-message-bytes (and the client with the same), or send fewer images in this call and add "
            "the others with AddImages"
        )
    else:
        advice = "send a smaller image (a raw one encoded as JPEG or PNG is several times smaller)"
    return TooLarge(
        f"the message has {size:,} bytes; this server takes at most {max_message_bytes:,} "
        f"(--max-message-bytes): {advice}"
    )


@dataclass(frozen=True)
class OversizedFrame:
    """Stands in for an InspectStream request over --max-message-bytes, so the frame is answered, by id.

    Carries the two fields the answer to a failed frame reads (frame_id, product_id); the image is dropped.
    """

    size: int
    max_message_bytes: int
    frame_id: int
    product_id: str


def check_frame_size(request: object) -> None:
    """Raises TooLarge when `request` stands for a frame over --max-message-bytes."""
    if isinstance(request, OversizedFrame):
        raise message_too_large(request.size, request.max_message_bytes)


def check_response_size(size: int, max_message_bytes: int, png_heatmap: bool) -> None:
    """TooLarge when an answer of `size` bytes would be over --max-message-bytes: grpcio would end the whole
    call for it, so the frame gets this error instead. png_heatmap: the answer's heatmap is a PNG already."""
    if size > max_message_bytes:
        advice = "ask for no heatmap" if png_heatmap else "ask for a PNG heatmap or none"
        raise TooLarge(
            f"the answer with its heatmap has {size:,} bytes; this server sends at most "
            f"{max_message_bytes:,} (--max-message-bytes): {advice} for such frames"
        )

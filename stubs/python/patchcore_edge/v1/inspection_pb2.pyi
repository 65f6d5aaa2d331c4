from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PixelFormat(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PIXEL_FORMAT_UNSPECIFIED: _ClassVar[PixelFormat]
    PIXEL_FORMAT_GRAY8: _ClassVar[PixelFormat]
    PIXEL_FORMAT_RGB8: _ClassVar[PixelFormat]
    PIXEL_FORMAT_BGR8: _ClassVar[PixelFormat]

class HeatmapFormat(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    HEATMAP_FORMAT_NONE: _ClassVar[HeatmapFormat]
    HEATMAP_FORMAT_FLOAT32: _ClassVar[HeatmapFormat]
    HEATMAP_FORMAT_PNG: _ClassVar[HeatmapFormat]
PIXEL_FORMAT_UNSPECIFIED: PixelFormat
PIXEL_FORMAT_GRAY8: PixelFormat
PIXEL_FORMAT_RGB8: PixelFormat
PIXEL_FORMAT_BGR8: PixelFormat
HEATMAP_FORMAT_NONE: HeatmapFormat
HEATMAP_FORMAT_FLOAT32: HeatmapFormat
HEATMAP_FORMAT_PNG: HeatmapFormat

class RawImage(_message.Message):
    __slots__ = ("width", "height", "format", "pixels")
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    PIXELS_FIELD_NUMBER: _ClassVar[int]
    width: int
    height: int
    format: PixelFormat
    pixels: bytes
    def __init__(self, width: _Optional[int] = ..., height: _Optional[int] = ..., format: _Optional[_Union[PixelFormat, str]] = ..., pixels: _Optional[bytes] = ...) -> None: ...

class Image(_message.Message):
    __slots__ = ("encoded", "raw")
    ENCODED_FIELD_NUMBER: _ClassVar[int]
    RAW_FIELD_NUMBER: _ClassVar[int]
    encoded: bytes
    raw: RawImage
    def __init__(self, encoded: _Optional[bytes] = ..., raw: _Optional[_Union[RawImage, _Mapping]] = ...) -> None: ...

class ProductOptions(_message.Message):
    __slots__ = ("threshold", "top_k", "min_region_area")
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    MIN_REGION_AREA_FIELD_NUMBER: _ClassVar[int]
    threshold: float
    top_k: int
    min_region_area: int
    def __init__(self, threshold: _Optional[float] = ..., top_k: _Optional[int] = ..., min_region_area: _Optional[int] = ...) -> None: ...

class Rect(_message.Message):
    __slots__ = ("x", "y", "width", "height")
    X_FIELD_NUMBER: _ClassVar[int]
    Y_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    x: int
    y: int
    width: int
    height: int
    def __init__(self, x: _Optional[int] = ..., y: _Optional[int] = ..., width: _Optional[int] = ..., height: _Optional[int] = ...) -> None: ...

class TeachOptions(_message.Message):
    __slots__ = ("coreset_ratio", "augment_rotations", "threshold_scale", "top_k", "contrast_stretch", "roi", "tile_size", "line_views", "align")
    CORESET_RATIO_FIELD_NUMBER: _ClassVar[int]
    AUGMENT_ROTATIONS_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_SCALE_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    CONTRAST_STRETCH_FIELD_NUMBER: _ClassVar[int]
    ROI_FIELD_NUMBER: _ClassVar[int]
    TILE_SIZE_FIELD_NUMBER: _ClassVar[int]
    LINE_VIEWS_FIELD_NUMBER: _ClassVar[int]
    ALIGN_FIELD_NUMBER: _ClassVar[int]
    coreset_ratio: float
    augment_rotations: bool
    threshold_scale: float
    top_k: int
    contrast_stretch: bool
    roi: Rect
    tile_size: int
    line_views: int
    align: bool
    def __init__(self, coreset_ratio: _Optional[float] = ..., augment_rotations: _Optional[bool] = ..., threshold_scale: _Optional[float] = ..., top_k: _Optional[int] = ..., contrast_stretch: _Optional[bool] = ..., roi: _Optional[_Union[Rect, _Mapping]] = ..., tile_size: _Optional[int] = ..., line_views: _Optional[int] = ..., align: _Optional[bool] = ...) -> None: ...

class TeachRequest(_message.Message):
    __slots__ = ("product_id", "images", "options", "expected_version")
    PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
    IMAGES_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    product_id: str
    images: _containers.RepeatedCompositeFieldContainer[Image]
    options: TeachOptions
    expected_version: int
    def __init__(self, product_id: _Optional[str] = ..., images: _Optional[_Iterable[_Union[Image, _Mapping]]] = ..., options: _Optional[_Union[TeachOptions, _Mapping]] = ..., expected_version: _Optional[int] = ...) -> None: ...

class AddImagesRequest(_message.Message):
    __slots__ = ("product_id", "images", "expected_version")
    PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
    IMAGES_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    product_id: str
    images: _containers.RepeatedCompositeFieldContainer[Image]
    expected_version: int
    def __init__(self, product_id: _Optional[str] = ..., images: _Optional[_Iterable[_Union[Image, _Mapping]]] = ..., expected_version: _Optional[int] = ...) -> None: ...

class TeachStats(_message.Message):
    __slots__ = ("image_count", "patch_count", "bank_size", "teach_seconds", "leave_one_out_scores", "outlier_images", "fine_bank_size")
    IMAGE_COUNT_FIELD_NUMBER: _ClassVar[int]
    PATCH_COUNT_FIELD_NUMBER: _ClassVar[int]
    BANK_SIZE_FIELD_NUMBER: _ClassVar[int]
    TEACH_SECONDS_FIELD_NUMBER: _ClassVar[int]
    LEAVE_ONE_OUT_SCORES_FIELD_NUMBER: _ClassVar[int]
    OUTLIER_IMAGES_FIELD_NUMBER: _ClassVar[int]
    FINE_BANK_SIZE_FIELD_NUMBER: _ClassVar[int]
    image_count: int
    patch_count: int
    bank_size: int
    teach_seconds: float
    leave_one_out_scores: _containers.RepeatedScalarFieldContainer[float]
    outlier_images: _containers.RepeatedScalarFieldContainer[int]
    fine_bank_size: int
    def __init__(self, image_count: _Optional[int] = ..., patch_count: _Optional[int] = ..., bank_size: _Optional[int] = ..., teach_seconds: _Optional[float] = ..., leave_one_out_scores: _Optional[_Iterable[float]] = ..., outlier_images: _Optional[_Iterable[int]] = ..., fine_bank_size: _Optional[int] = ...) -> None: ...

class Product(_message.Message):
    __slots__ = ("product_id", "version", "threshold", "options", "teach_stats", "model_fingerprint", "created_unix", "usable", "status_message", "teach_options")
    PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    TEACH_STATS_FIELD_NUMBER: _ClassVar[int]
    MODEL_FINGERPRINT_FIELD_NUMBER: _ClassVar[int]
    CREATED_UNIX_FIELD_NUMBER: _ClassVar[int]
    USABLE_FIELD_NUMBER: _ClassVar[int]
    STATUS_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    TEACH_OPTIONS_FIELD_NUMBER: _ClassVar[int]
    product_id: str
    version: int
    threshold: float
    options: ProductOptions
    teach_stats: TeachStats
    model_fingerprint: str
    created_unix: int
    usable: bool
    status_message: str
    teach_options: TeachOptions
    def __init__(self, product_id: _Optional[str] = ..., version: _Optional[int] = ..., threshold: _Optional[float] = ..., options: _Optional[_Union[ProductOptions, _Mapping]] = ..., teach_stats: _Optional[_Union[TeachStats, _Mapping]] = ..., model_fingerprint: _Optional[str] = ..., created_unix: _Optional[int] = ..., usable: _Optional[bool] = ..., status_message: _Optional[str] = ..., teach_options: _Optional[_Union[TeachOptions, _Mapping]] = ...) -> None: ...

class InspectRequest(_message.Message):
    __slots__ = ("product_id", "frame_id", "image", "heatmap")
    PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
    FRAME_ID_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    HEATMAP_FIELD_NUMBER: _ClassVar[int]
    product_id: str
    frame_id: int
    image: Image
    heatmap: HeatmapFormat
    def __init__(self, product_id: _Optional[str] = ..., frame_id: _Optional[int] = ..., image: _Optional[_Union[Image, _Mapping]] = ..., heatmap: _Optional[_Union[HeatmapFormat, str]] = ...) -> None: ...

class Heatmap(_message.Message):
    __slots__ = ("width", "height", "float32", "png")
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    FLOAT32_FIELD_NUMBER: _ClassVar[int]
    PNG_FIELD_NUMBER: _ClassVar[int]
    width: int
    height: int
    float32: bytes
    png: bytes
    def __init__(self, width: _Optional[int] = ..., height: _Optional[int] = ..., float32: _Optional[bytes] = ..., png: _Optional[bytes] = ...) -> None: ...

class Region(_message.Message):
    __slots__ = ("x", "y", "width", "height", "area", "peak_score")
    X_FIELD_NUMBER: _ClassVar[int]
    Y_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    AREA_FIELD_NUMBER: _ClassVar[int]
    PEAK_SCORE_FIELD_NUMBER: _ClassVar[int]
    x: int
    y: int
    width: int
    height: int
    area: int
    peak_score: float
    def __init__(self, x: _Optional[int] = ..., y: _Optional[int] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., area: _Optional[int] = ..., peak_score: _Optional[float] = ...) -> None: ...

class FrameError(_message.Message):
    __slots__ = ("code", "message")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    code: int
    message: str
    def __init__(self, code: _Optional[int] = ..., message: _Optional[str] = ...) -> None: ...

class Timings(_message.Message):
    __slots__ = ("decode_ms", "queue_ms", "inference_ms", "total_ms")
    DECODE_MS_FIELD_NUMBER: _ClassVar[int]
    QUEUE_MS_FIELD_NUMBER: _ClassVar[int]
    INFERENCE_MS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_MS_FIELD_NUMBER: _ClassVar[int]
    decode_ms: float
    queue_ms: float
    inference_ms: float
    total_ms: float
    def __init__(self, decode_ms: _Optional[float] = ..., queue_ms: _Optional[float] = ..., inference_ms: _Optional[float] = ..., total_ms: _Optional[float] = ...) -> None: ...

class InspectResponse(_message.Message):
    __slots__ = ("frame_id", "score", "anomalous", "threshold", "heatmap", "product_version", "error", "regions", "timings")
    FRAME_ID_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    ANOMALOUS_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    HEATMAP_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_VERSION_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    REGIONS_FIELD_NUMBER: _ClassVar[int]
    TIMINGS_FIELD_NUMBER: _ClassVar[int]
    frame_id: int
    score: float
    anomalous: bool
    threshold: float
    heatmap: Heatmap
    product_version: int
    error: FrameError
    regions: _containers.RepeatedCompositeFieldContainer[Region]
    timings: Timings
    def __init__(self, frame_id: _Optional[int] = ..., score: _Optional[float] = ..., anomalous: _Optional[bool] = ..., threshold: _Optional[float] = ..., heatmap: _Optional[_Union[Heatmap, _Mapping]] = ..., product_version: _Optional[int] = ..., error: _Optional[_Union[FrameError, _Mapping]] = ..., regions: _Optional[_Iterable[_Union[Region, _Mapping]]] = ..., timings: _Optional[_Union[Timings, _Mapping]] = ...) -> None: ...

class GetProductRequest(_message.Message):
    __slots__ = ("product_id",)
    PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
    product_id: str
    def __init__(self, product_id: _Optional[str] = ...) -> None: ...

class ListProductsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListProductsResponse(_message.Message):
    __slots__ = ("products",)
    PRODUCTS_FIELD_NUMBER: _ClassVar[int]
    products: _containers.RepeatedCompositeFieldContainer[Product]
    def __init__(self, products: _Optional[_Iterable[_Union[Product, _Mapping]]] = ...) -> None: ...

class UpdateProductRequest(_message.Message):
    __slots__ = ("product_id", "options", "update_fields", "expected_version")
    PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    UPDATE_FIELDS_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    product_id: str
    options: ProductOptions
    update_fields: _containers.RepeatedScalarFieldContainer[str]
    expected_version: int
    def __init__(self, product_id: _Optional[str] = ..., options: _Optional[_Union[ProductOptions, _Mapping]] = ..., update_fields: _Optional[_Iterable[str]] = ..., expected_version: _Optional[int] = ...) -> None: ...

class DeleteProductRequest(_message.Message):
    __slots__ = ("product_id", "expected_version")
    PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    product_id: str
    expected_version: int
    def __init__(self, product_id: _Optional[str] = ..., expected_version: _Optional[int] = ...) -> None: ...

class DeleteProductResponse(_message.Message):
    __slots__ = ("product_id", "deleted_version")
    PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
    DELETED_VERSION_FIELD_NUMBER: _ClassVar[int]
    product_id: str
    deleted_version: int
    def __init__(self, product_id: _Optional[str] = ..., deleted_version: _Optional[int] = ...) -> None: ...

class GetServerInfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ModelInfo(_message.Message):
    __slots__ = ("backbone", "input_size", "grid_height", "grid_width", "feature_dim", "fingerprint", "weights_sha256", "metadata")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    BACKBONE_FIELD_NUMBER: _ClassVar[int]
    INPUT_SIZE_FIELD_NUMBER: _ClassVar[int]
    GRID_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    GRID_WIDTH_FIELD_NUMBER: _ClassVar[int]
    FEATURE_DIM_FIELD_NUMBER: _ClassVar[int]
    FINGERPRINT_FIELD_NUMBER: _ClassVar[int]
    WEIGHTS_SHA256_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    backbone: str
    input_size: int
    grid_height: int
    grid_width: int
    feature_dim: int
    fingerprint: str
    weights_sha256: str
    metadata: _containers.ScalarMap[str, str]
    def __init__(self, backbone: _Optional[str] = ..., input_size: _Optional[int] = ..., grid_height: _Optional[int] = ..., grid_width: _Optional[int] = ..., feature_dim: _Optional[int] = ..., fingerprint: _Optional[str] = ..., weights_sha256: _Optional[str] = ..., metadata: _Optional[_Mapping[str, str]] = ...) -> None: ...

class ServerInfo(_message.Message):
    __slots__ = ("version", "model", "product_count", "max_batch_size", "max_image_pixels", "max_message_bytes", "fleet")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_COUNT_FIELD_NUMBER: _ClassVar[int]
    MAX_BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    MAX_IMAGE_PIXELS_FIELD_NUMBER: _ClassVar[int]
    MAX_MESSAGE_BYTES_FIELD_NUMBER: _ClassVar[int]
    FLEET_FIELD_NUMBER: _ClassVar[int]
    version: str
    model: ModelInfo
    product_count: int
    max_batch_size: int
    max_image_pixels: int
    max_message_bytes: int
    fleet: FleetInfo
    def __init__(self, version: _Optional[str] = ..., model: _Optional[_Union[ModelInfo, _Mapping]] = ..., product_count: _Optional[int] = ..., max_batch_size: _Optional[int] = ..., max_image_pixels: _Optional[int] = ..., max_message_bytes: _Optional[int] = ..., fleet: _Optional[_Union[FleetInfo, _Mapping]] = ...) -> None: ...

class FleetInfo(_message.Message):
    __slots__ = ("enabled", "connected", "url", "last_sync_unix", "pending_products")
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    CONNECTED_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    LAST_SYNC_UNIX_FIELD_NUMBER: _ClassVar[int]
    PENDING_PRODUCTS_FIELD_NUMBER: _ClassVar[int]
    enabled: bool
    connected: bool
    url: str
    last_sync_unix: int
    pending_products: int
    def __init__(self, enabled: _Optional[bool] = ..., connected: _Optional[bool] = ..., url: _Optional[str] = ..., last_sync_unix: _Optional[int] = ..., pending_products: _Optional[int] = ...) -> None: ...

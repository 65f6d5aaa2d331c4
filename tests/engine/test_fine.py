"""The fine channel (patchcore/fine.py): which products get a fine bank, how it is stored, and how a fine
cell's score reaches the patch grid, the image score and the verdict."""

import dataclasses
import hashlib
from pathlib import Path

import numpy as np
import pytest

from patchcore import scoring
from patchcore.bank import (
    MemoryBank,
    ProductOptions,
    TeachOptions,
    TeachStats,
    decode_bank,
    encode_bank,
    load_bank,
    save_bank,
)
from patchcore.errors import InvalidInput, ModelError, ProductUnusable
from patchcore.fine import FineBank
from patchcore.images import ScaledImage
from patchcore.inspection import inspect
from patchcore.model import FeatureExtractor, ModelInfo, read_model_info
from patchcore.scoring import Scorer
from patchcore.teach import teach_images


@pytest.fixture(scope="module")
def fine_extractor(tmp_path_factory, tiny_model_writer) -> FeatureExtractor:
    """The tiny model (64 pixels in, 8x8 patches) with a fine output of 16x16 cells of 8 dimensions."""
    path = tiny_model_writer(tmp_path_factory.mktemp("fine") / "tiny_fine.onnx", fine=True)
    return FeatureExtractor(path, intra_op_threads=1)


@pytest.fixture(scope="module")
def wide_bricks(brick) -> list[np.ndarray]:
    """Six 256 x 384 crops of the brick texture: 2 x 3 tiles of 128 pixels."""
    rng = np.random.default_rng(3)
    return [brick[top : top + 256, left : left + 384].copy() for top, left in rng.integers(0, 128, (6, 2))]


def test_the_fine_output_is_read_from_the_metadata(fine_extractor):
    assert (fine_extractor.info.fine_grid, fine_extractor.info.fine_dim) == ((16, 16), 8)
    images = np.random.default_rng(0).integers(0, 256, (2, 64, 64, 3), dtype=np.uint8)

    features, fine = fine_extractor.extract_with_fine(images)

    assert features.shape == (2, 64, 32) and fine.shape == (2, 256, 8)
    np.testing.assert_allclose(np.linalg.norm(fine, axis=-1), 1.0, atol=1e-5)


def test_a_model_without_a_fine_output_says_so(tiny_extractor):
    assert tiny_extractor.info.fine_grid is None
    with pytest.raises(ModelError, match="fine_features"):
        tiny_extractor.extract_with_fine(np.zeros((1, 64, 64, 3), np.uint8))


def test_metadata_with_only_half_of_the_fine_output_is_a_model_error(tmp_path, tiny_model_writer):
    path = tiny_model_writer(tmp_path / "half.onnx", fine=True, drop_key="fine_dim")
    with pytest.raises(ModelError, match="fine_grid and fine_dim"):
        read_model_info(path)


@pytest.mark.parametrize(
    ("tile_size", "has_fine_bank"),
    [(0, False), (48, False), (63, False), (64, True), (96, True), (512, True)],
)
def test_only_tiles_the_model_sees_at_its_own_size_or_shrunk_get_a_fine_bank(
    fine_extractor, wide_bricks, tile_size, has_fine_bank
):
    bank = teach_images(
        fine_extractor, wide_bricks, "bricks", TeachOptions(tile_size=tile_size, line_views=0)
    )

    assert (bank.fine is not None) == has_fine_bank
    if has_fine_bank:
        assert bank.fine.vectors.shape[1] == 8 and bank.fine.scale > 0
        np.testing.assert_allclose(np.linalg.norm(bank.fine.vectors, axis=1), 1.0, atol=1e-5)


def test_a_model_without_a_fine_output_teaches_no_fine_bank(tiny_extractor, wide_bricks):
    bank = teach_images(tiny_extractor, wide_bricks, "bricks", TeachOptions(tile_size=128, line_views=0))
    assert bank.fine is None


def _bank(fine: FineBank | None) -> MemoryBank:
    return MemoryBank(
        product_id="fine",
        version=1,
        model_fingerprint="cd" * 32,
        vectors=np.eye(4, dtype=np.float32),
        options=ProductOptions(threshold=0.5),
        teach_options=TeachOptions(),
        stats=TeachStats(2, 8, 4, 0.1, [0.1, 0.2]),
        created_unix=0,
        fine=fine,
    )


def test_a_fine_bank_is_stored_and_read_back(tmp_path):
    fine = FineBank(np.eye(3, 2, dtype=np.float32), scale=0.625)

    read = decode_bank(encode_bank(_bank(fine)), tmp_path / "fine.bank")

    np.testing.assert_array_equal(read.fine.vectors, fine.vectors)
    assert read.fine.scale == 0.625
    np.testing.assert_array_equal(read.vectors, np.eye(4))


def test_a_bank_without_a_fine_bank_stays_in_the_first_file_format(tmp_path):
    content = encode_bank(_bank(None))

    assert int.from_bytes(content[8:12], "little") == 1
    assert decode_bank(content, tmp_path / "plain.bank").fine is None


def test_a_file_whose_fine_vectors_are_cut_short_is_unusable(tmp_path):
    content = encode_bank(_bank(FineBank(np.eye(3, 2, dtype=np.float32), scale=1.0)))
    body = content[:-32][: -2 * 4]  # the last fine row (2 float32) gone, the checksum made to match
    with pytest.raises(ProductUnusable, match="bytes of vectors"):
        decode_bank(body + hashlib.sha256(body).digest(), tmp_path / "short.bank")


FINE_MODEL = ModelInfo(
    path="fine-test",
    backbone="test",
    input_size=16,
    grid=(2, 2),
    dim=4,
    weights_sha256="",
    fingerprint="cd" * 32,
    metadata={},
    fine_grid=(4, 4),
    fine_dim=2,
)


@pytest.fixture
def fine_scorer() -> Scorer:
    """Patch bank: the 4 unit axes; fine bank: the first axis of 2, scale 0.5."""
    return Scorer(_bank(FineBank(np.array([[1.0, 0.0]], np.float32), scale=0.5)), FINE_MODEL)


def _frame(odd_cell: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """One tile whose patches are all in the bank, and whose fine cells are too but one, at odd_cell (row,
    column of the 4x4 cells), which is orthogonal to the fine bank: cosine distance 1."""
    features = np.tile(np.eye(4, dtype=np.float32)[0], (1, 4, 1))
    cells = np.tile(np.array([1.0, 0.0], np.float32), (1, 16, 1))
    cells[0, odd_cell[0] * 4 + odd_cell[1]] = (0.0, 1.0)
    return features, cells


def test_a_fine_cell_far_from_the_fine_bank_raises_the_patch_it_lies_in(fine_scorer):
    features, cells = _frame(odd_cell=(3, 0))  # in patch (1, 0) of the 2x2 grid

    grids = fine_scorer.frame_scores(features, cells).grids()

    np.testing.assert_allclose(grids, [[[0.0, 0.0], [0.5, 0.0]]], atol=1e-6)


@pytest.mark.parametrize("bounded", [False, True])
def test_the_image_score_counts_the_fine_cells_with_or_without_the_bounded_search(
    fine_scorer, monkeypatch, bounded
):
    monkeypatch.setattr(scoring, "BOUNDED_FROM_PAIRS", 0 if bounded else 10**9)
    features, cells = _frame(odd_cell=(0, 2))

    assert fine_scorer.frame_scores(features, cells).image_score(top_k=1) == pytest.approx(0.5)


def test_a_product_with_a_fine_bank_needs_the_fine_cells(fine_scorer):
    features, _ = _frame(odd_cell=(0, 0))
    assert fine_scorer.wants_fine_cells
    with pytest.raises(InvalidInput, match="fine cells"):
        fine_scorer.frame_scores(features)


def test_a_fine_bank_cannot_be_scored_with_a_model_without_fine_cells():
    coarse_model = dataclasses.replace(FINE_MODEL, fine_grid=None, fine_dim=0)
    with pytest.raises(ProductUnusable, match="fine bank"):
        Scorer(_bank(FineBank(np.array([[1.0, 0.0]], np.float32), scale=0.5)), coarse_model)


def test_a_frame_scores_the_same_with_and_without_its_heatmap_and_never_below_the_patches_alone(
    fine_extractor, wide_bricks, plant_blob
):
    bank = teach_images(fine_extractor, wide_bricks[:5], "bricks", TeachOptions(tile_size=128, line_views=0))
    with_fine, patches_only = (
        Scorer(bank, fine_extractor.info),
        Scorer(dataclasses.replace(bank, fine=None), fine_extractor.info),
    )
    frame = ScaledImage.full(plant_blob(wide_bricks[5], (100, 200), 3))

    quick = inspect(fine_extractor, with_fine, frame, want_heatmap=False)
    full = inspect(fine_extractor, with_fine, frame, want_heatmap=True)
    coarse = inspect(fine_extractor, patches_only, frame, want_heatmap=True)

    assert quick.score == pytest.approx(full.score, rel=1e-5)
    assert full.score >= coarse.score
    assert full.heatmap.shape == (256, 384) and np.all(full.heatmap >= coarse.heatmap - 1e-6)


def test_a_fine_bank_survives_the_store(tmp_path: Path, fine_extractor, wide_bricks):
    bank = teach_images(fine_extractor, wide_bricks[:3], "bricks", TeachOptions(tile_size=128, line_views=0))
    save_bank(bank, tmp_path / "bricks.bank")

    read = load_bank(tmp_path / "bricks.bank")

    np.testing.assert_array_equal(read.fine.vectors, bank.fine.vectors)
    assert read.fine.scale == bank.fine.scale


def test_the_bounded_search_finds_the_same_highest_cell_as_searching_every_cell():
    rng = np.random.default_rng(5)
    vectors = rng.standard_normal((300, 2)).astype(np.float32)
    scorer = Scorer(
        _bank(FineBank(vectors / np.linalg.norm(vectors, axis=1, keepdims=True), 0.75)), FINE_MODEL
    )
    cells = rng.standard_normal((40, 16, 2)).astype(np.float32)
    cells /= np.linalg.norm(cells, axis=-1, keepdims=True)

    assert scorer.highest_fine_score(cells) == pytest.approx(float(scorer.fine_scores(cells).max()), rel=1e-5)


def test_an_anomalous_frames_regions_from_the_bounds_are_those_of_every_cell(
    fine_extractor, wide_bricks, plant_blob, monkeypatch
):
    monkeypatch.setattr(scoring, "BOUNDED_FROM_PAIRS", 0)  # bounds for this small frame and bank too
    bank = teach_images(fine_extractor, wide_bricks[:5], "bricks", TeachOptions(tile_size=128, line_views=0))
    scorer = Scorer(bank, fine_extractor.info)
    frame = ScaledImage.full(plant_blob(wide_bricks[5], (100, 200), 3))

    quick = inspect(fine_extractor, scorer, frame, want_heatmap=False)
    full = inspect(fine_extractor, scorer, frame, want_heatmap=True)  # every patch and cell searched

    assert quick.anomalous and quick.regions
    assert [dataclasses.astuple(region)[:5] for region in quick.regions] == [
        dataclasses.astuple(region)[:5] for region in full.regions
    ]
    assert [region.peak_score for region in quick.regions] == pytest.approx(
        [region.peak_score for region in full.regions], rel=1e-5
    )

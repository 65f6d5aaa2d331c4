import cv2
import numpy as np
import pytest

import exporter.bank
from exporter.bank import main
from patchcore.bank import TeachOptions
from patchcore.store import ProductStore
from patchcore.store_lock import StoreLock
from patchcore.teach import teach


@pytest.fixture
def brick_folder(tmp_path, brick_crops):
    folder = tmp_path / "good"
    folder.mkdir()
    for index, crop in enumerate(brick_crops[:4]):
        cv2.imwrite(str(folder / f"crop_{index}.png"), crop[:, :, ::-1])
    (folder / "notes.txt").write_text("not an image")
    return folder


def test_builds_a_new_version_in_the_store_and_reports_it(tmp_path, tiny_model, brick_folder, capsys):
    arguments = ["--model", str(tiny_model), "--images", str(brick_folder), "--product", "brick"]
    arguments += ["--store", str(tmp_path / "store"), "--coreset-ratio", "0.5", "--threshold-scale", "1.3"]
    assert main(arguments) == 0
    assert main(arguments) == 0
    bank = ProductStore(tmp_path / "store").load("brick")
    assert (bank.version, bank.stats.image_count, bank.stats.bank_size) == (2, 4, 4 * 64 // 2)
    assert bank.options.threshold == pytest.approx(1.3 * max(bank.stats.leave_one_out_scores))
    printed = capsys.readouterr().out
    assert "product brick version 2" in printed and f"threshold {bank.options.threshold:.4f}" in printed


def test_an_image_unlike_the_others_is_named(tmp_path, tiny_model, brick_folder, capsys):
    pitted = cv2.imread(str(brick_folder / "crop_2.png"))
    cv2.rectangle(pitted, (10, 10), (40, 40), (0, 0, 0), -1)
    cv2.imwrite(str(brick_folder / "crop_2.png"), pitted)
    arguments = ["--model", str(tiny_model), "--images", str(brick_folder), "--product", "brick"]
    assert main([*arguments, "--store", str(tmp_path / "store")]) == 0
    warnings = [line for line in capsys.readouterr().out.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and warnings[0].startswith("warning: crop_2.png looks unlike")


def test_the_image_files_are_stored_with_the_version_as_they_are(tmp_path, tiny_model, brick_folder):
    arguments = ["--model", str(tiny_model), "--images", str(brick_folder), "--product", "brick"]
    assert main([*arguments, "--store", str(tmp_path / "store")]) == 0
    store = ProductStore(tmp_path / "store")
    files = sorted(brick_folder.glob("*.png"))
    assert store.load_images(store.load("brick")).files == tuple(path.read_bytes() for path in files)


def test_a_bad_product_id_is_reported_without_a_traceback(tmp_path, tiny_model, brick_folder, capsys):
    arguments = ["--model", str(tiny_model), "--images", str(brick_folder), "--product", "Bad Id"]
    assert main([*arguments, "--store", str(tmp_path / "store")]) == 1
    assert "invalid product id" in capsys.readouterr().err


def builder_arguments(tiny_model, folder, store, *more: str) -> list[str]:
    return [
        "--model",
        str(tiny_model),
        "--images",
        str(folder),
        "--product",
        "brick",
        "--store",
        str(store),
        *more,
    ]


def test_a_store_a_server_holds_is_refused_and_left_as_it_was(tmp_path, tiny_model, brick_folder, capsys):
    store = ProductStore(tmp_path / "store").root
    server = StoreLock(store, "a patchcore-edge server")
    try:
        assert main(builder_arguments(tiny_model, brick_folder, store)) == 1
    finally:
        server.release()
    assert "in use by a patchcore-edge server" in capsys.readouterr().err
    assert ProductStore(store).product_ids() == []
    assert main(builder_arguments(tiny_model, brick_folder, store)) == 0


def test_a_product_a_fleet_holds_is_refused(tmp_path, tiny_model, brick_folder, capsys):
    store = tmp_path / "store"
    assert main(builder_arguments(tiny_model, brick_folder, store)) == 0
    (store / "brick" / "fleet-version.json").write_text('{"version": 1, "sha256": "0"}')
    assert main(builder_arguments(tiny_model, brick_folder, store)) == 1
    assert "fleet" in capsys.readouterr().err
    assert ProductStore(store).current_version("brick") == 1


def test_the_images_stored_are_the_bytes_taught_even_if_the_files_change_meanwhile(
    tmp_path, tiny_model, brick_folder, monkeypatch
):
    files = sorted(brick_folder.glob("*.png"))
    taught_bytes = tuple(path.read_bytes() for path in files)

    def teach_while_the_folder_changes(*args, **kwargs):
        files[0].write_bytes(files[1].read_bytes())
        files[2].unlink()
        return teach(*args, **kwargs)

    monkeypatch.setattr(exporter.bank, "teach", teach_while_the_folder_changes)
    assert main(builder_arguments(tiny_model, brick_folder, tmp_path / "store")) == 0
    store = ProductStore(tmp_path / "store")
    assert store.load_images(store.load("brick")).files == taught_bytes


def test_an_image_error_names_the_file(tmp_path, tiny_model, brick_folder, capsys):
    cv2.imwrite(str(brick_folder / "crop_3.png"), np.zeros((40, 50, 3), np.uint8))
    assert main(builder_arguments(tiny_model, brick_folder, tmp_path / "store", "--tile-size", "32")) == 1
    error = capsys.readouterr().err
    assert "\nerror: crop_3.png: " in error and "50x40" in error


def test_a_folder_without_images_says_so(tmp_path, tiny_model, capsys):
    folder = tmp_path / "texts"
    folder.mkdir()
    (folder / "readme.txt").write_text("no images here")
    (folder / "sub").mkdir()
    assert main(builder_arguments(tiny_model, folder, tmp_path / "store")) == 1
    assert "no JPEG, PNG, BMP or TIFF files" in capsys.readouterr().err
    assert main(builder_arguments(tiny_model, folder / "readme.txt", tmp_path / "store")) == 1
    assert "is not a folder" in capsys.readouterr().err


def test_a_negative_seed_is_an_error_line(tmp_path, tiny_model, brick_folder, capsys):
    assert main(builder_arguments(tiny_model, brick_folder, tmp_path / "store", "--seed", "-1")) == 1
    assert capsys.readouterr().err.startswith("error: ")


def test_the_pixel_limit_can_be_raised_like_the_servers(tmp_path, tiny_model, brick_folder, capsys):
    store = tmp_path / "store"
    assert main(builder_arguments(tiny_model, brick_folder, store, "--max-image-pixels", "1000")) == 1
    assert "1,000 pixels" in capsys.readouterr().err
    assert main(builder_arguments(tiny_model, brick_folder, store, "--max-image-pixels", "100000")) == 0


def test_zero_means_the_default_as_in_the_client(tmp_path, tiny_model, brick_folder):
    zeros = ["--coreset-ratio", "0", "--top-k", "0", "--threshold-scale", "0"]
    assert main(builder_arguments(tiny_model, brick_folder, tmp_path / "store", *zeros)) == 0
    bank = ProductStore(tmp_path / "store").load("brick")
    defaults = TeachOptions()
    assert (
        bank.teach_options.coreset_ratio,
        bank.teach_options.top_k,
        bank.teach_options.threshold_scale,
    ) == (
        defaults.coreset_ratio,
        defaults.top_k,
        defaults.threshold_scale,
    )


def test_an_interrupted_build_stores_nothing_and_frees_the_store(
    tmp_path, tiny_model, brick_folder, monkeypatch, capsys
):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(exporter.bank, "teach", interrupted)
    store = tmp_path / "store"
    assert main(builder_arguments(tiny_model, brick_folder, store)) == 130
    assert "interrupted" in capsys.readouterr().err
    assert ProductStore(store).product_ids() == []
    StoreLock(store, "a patchcore-edge server").release()


def test_an_image_under_32_pixels_a_side_is_refused_naming_the_file_and_nothing_is_stored(
    tmp_path, tiny_model, brick_folder, brick_crops, capsys
):
    cv2.imwrite(str(brick_folder / "crop_9_thumbnail.png"), brick_crops[0][:16, :16, ::-1])
    store = tmp_path / "store"
    assert main(builder_arguments(tiny_model, brick_folder, store)) == 1
    error = capsys.readouterr().err
    assert "crop_9_thumbnail.png: the image is 16x16 pixels" in error and "32x32" in error
    assert not ProductStore(store).product_ids()


def test_a_region_of_interest_under_32_pixels_a_side_is_refused(tmp_path, tiny_model, brick_folder, capsys):
    store = tmp_path / "store"
    assert main(builder_arguments(tiny_model, brick_folder, store, "--roi", "4,4,1,1")) == 1
    error = capsys.readouterr().err
    assert "region of interest at x=4 y=4 is 1x1 pixels" in error and "32x32" in error
    assert not ProductStore(store).product_ids()

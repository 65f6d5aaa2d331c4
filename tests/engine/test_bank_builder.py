import cv2
import pytest

from exporter.bank import main
from patchcore.store import ProductStore


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

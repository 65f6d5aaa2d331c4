"""`python -m deploy.bundle` (`make bundle`): dist/patchcore-edge-<version>-<python tag>-<platform>.tar.gz.

The file holds what a line PC without network needs: wheels of the server, the Python client and every
dependency (no torch, no timm), the models, install.sh, the systemd unit with its settings file, a README.
Unpacked, it is one folder named like the file; `install.sh PREFIX` installs from it.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from deploy.errors import BundleError
from deploy.models import check_models
from deploy.wheels import REPO, build_wheels, pinned_requirements
from patchcore.errors import ModelError

HERE = Path(__file__).resolve().parent
# {file in deploy/: its mode in the bundle}
BUNDLED_FILES = {
    "install.sh": 0o755,
    "patchcore-edge.service": 0o644,
    "patchcore-edge.env": 0o644,
    "README.md": 0o644,
}
SERVER_DISTRIBUTION = "patchcore_edge"  # as wheel file names spell it


def python_tag() -> str:
    return f"cp{sys.version_info.major}{sys.version_info.minor}"


def platform_tag() -> str:
    return sysconfig.get_platform().replace("-", "_").replace(".", "_")


def stage(staging: Path, models: Sequence[Path]) -> str:
    """Writes the bundle's files into staging; returns the bundle's name."""
    versions = build_wheels(staging / "wheels")
    version = versions[SERVER_DISTRIBUTION]
    (staging / "requirements.txt").write_text(pinned_requirements(versions))
    (staging / "models").mkdir()
    for model in models:
        shutil.copy2(model, staging / "models" / model.name)
        (staging / "models" / model.name).chmod(0o644)  # make export writes 0600; the service user reads it
    for name, mode in BUNDLED_FILES.items():
        shutil.copy2(HERE / name, staging / name)
        (staging / name).chmod(mode)
    (staging / "bundle.env").write_text(
        f"VERSION={version}\nPYTHON_TAG={python_tag()}\nDEFAULT_MODEL={models[0].name}\n"
    )
    return f"patchcore-edge-{version}-{python_tag()}-{platform_tag()}"


def write_bundle(models: Sequence[Path], out_dir: Path) -> Path:
    """Checks the models first (the wheels take a while), then writes out_dir/<name>.tar.gz atomically."""
    check_models(models)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir) as scratch:
        name = stage(Path(scratch) / "bundle", models)
        partial = Path(scratch) / f"{name}.tar.gz"
        with tarfile.open(partial, "w:gz", compresslevel=6) as archive:
            archive.add(Path(scratch) / "bundle", arcname=name)
        return partial.replace(out_dir / partial.name)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m deploy.bundle",
        description="Write the offline installer of a line PC: wheels (no torch), models, install.sh, "
        "the systemd unit. Needs a package index here; the line PC needs none.",
    )
    parser.add_argument(
        "--models", type=Path, nargs="+",
        help="ONNX files to ship, the first being the service's default (default: models/*.onnx, sorted)",
    )  # fmt: skip
    parser.add_argument("--out", type=Path, default=REPO / "dist", help="folder for the .tar.gz")
    args = parser.parse_args(argv)
    models = args.models if args.models is not None else sorted((REPO / "models").glob("*.onnx"))
    start = time.monotonic()
    try:
        bundle = write_bundle(models, args.out)
    except (BundleError, ModelError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except subprocess.CalledProcessError as error:
        print(f"error: {error.cmd[:4]} failed with exit code {error.returncode}", file=sys.stderr)
        return 1
    size_mb = bundle.stat().st_size / 1e6
    print(f"wrote {bundle} ({size_mb:.0f} MB) in {time.monotonic() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

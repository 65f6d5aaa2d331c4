"""Wheels of the server, the Python client and every dependency, for the Python and platform running this."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from deploy.errors import BundleError

REPO = Path(__file__).resolve().parents[1]
PROJECTS = (REPO / "stubs" / "python", REPO / "clients" / "python", REPO)
# pip itself: install.sh bootstraps it from its wheel, so the line PC needs no python3-venv package.
EXTRA_REQUIREMENTS = ("pip",)
# The exporter's heavy dependencies: a line PC never exports, and the server never imports them.
FORBIDDEN = ("torch", "torchvision", "timm")


def wheel_versions(wheel_dir: Path) -> dict[str, str]:
    """{distribution name as in the wheel file name: version} of every wheel in wheel_dir."""
    return dict(path.name.split("-")[:2] for path in wheel_dir.glob("*.whl"))


def build_wheels(wheel_dir: Path) -> dict[str, str]:
    """`pip wheel` of the three distributions into wheel_dir; returns wheel_versions."""
    for project in PROJECTS:
        # setuptools packages whatever an earlier build left in build/lib, deleted modules included.
        shutil.rmtree(project / "build", ignore_errors=True)
    command = [sys.executable, "-m", "pip", "wheel", "--wheel-dir", str(wheel_dir)]
    subprocess.run([*command, *map(str, PROJECTS), *EXTRA_REQUIREMENTS], check=True)
    versions = wheel_versions(wheel_dir)
    if forbidden := sorted(set(versions) & set(FORBIDDEN)):
        raise BundleError(f"the server's dependencies pull in {forbidden}; a line PC install must not")
    return versions


def pinned_requirements(versions: dict[str, str]) -> str:
    """One `name==version` line per wheel: installing these gives exactly this bundle's set, older or newer
    than what PREFIX holds."""
    return "".join(f"{name}=={version}\n" for name, version in sorted(versions.items()))

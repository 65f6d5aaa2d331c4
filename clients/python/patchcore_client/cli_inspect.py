"""`patchcore-client inspect`: stream image files to the server; write a CSV row and an overlay for each."""

from __future__ import annotations

import argparse
import csv
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from patchcore_client.cli_image_files import image_files
from patchcore_client.client import InspectionClient
from patchcore_client.progress import ProgressLine

CSV_NAME = "results.csv"
CSV_COLUMNS = ("frame", "file", "score", "verdict", "threshold", "regions", "error")


def overlay_names(files: Sequence[Path]) -> list[str]:
    """The overlay file name of each file: <stem>_overlay.png, or <stem>_<frame>_overlay.png (frame: its
    0-based place in files, the CSV's frame column) where files share a stem (part.png in two folders,
    part.png and part.jpg), so no overlay is written over another."""
    stems = Counter(path.stem for path in files)
    names = [f"{path.stem}_overlay.png" if stems[path.stem] == 1 else "" for path in files]
    taken = set(names)
    for frame, path in enumerate(files):
        if not names[frame]:
            name = f"{path.stem}_{frame}_overlay.png"
            while name in taken:  # a file's own stem can read like another's numbered one
                name = name.removesuffix("_overlay.png") + f"_{frame}_overlay.png"
            names[frame] = name
            taken.add(name)
    return names


def inspect(client: InspectionClient, args: argparse.Namespace) -> int:
    files = image_files(args.files)
    client.get_product(args.product)  # an unknown product fails once, not once a frame
    overlays = overlay_names(files)
    args.out.mkdir(parents=True, exist_ok=True)
    progress = ProgressLine("inspect", len(files))
    counts = {"good": 0, "anomalous": 0, "error": 0}
    heatmap = "none" if args.no_overlays else "png"
    with open(args.out / CSV_NAME, "w", newline="") as table:
        writer = csv.writer(table)
        writer.writerow(CSV_COLUMNS)
        results = client.inspect_stream(args.product, enumerate(files), heatmap=heatmap)
        for result in results:
            path = files[result.frame_id]
            if result.overlay_png:
                (args.out / overlays[result.frame_id]).write_bytes(result.overlay_png)
            if result.error:  # no score: a script reading the table must not take 0 for a good part's
                score, threshold, error = "", "", f"{result.error.code.name}: {result.error.message}"
            else:
                score, threshold, error = f"{result.score:.6f}", f"{result.threshold:.6f}", ""
            writer.writerow(
                (result.frame_id, path, score, result.verdict, threshold, len(result.regions), error)
            )
            counts[result.verdict] += 1
            progress.advance()
    progress.close()
    print(
        f"{len(files)} frames: {counts['good']} good, {counts['anomalous']} anomalous, "
        f"{counts['error']} errors; results in {args.out / CSV_NAME}"
    )
    return 1 if counts["error"] else 0

"""The performance table and the issue's targets checked against it, as Markdown."""

from __future__ import annotations

from collections.abc import Sequence

from tests.benchmarks.perf_model_run import ModelRun

HEADER = (
    "| model, input px | raw b1 img/s (ms) | raw b8 img/s | raw b8 CPU ms/img | Inspect JPEG p50/p99 ms "
    "| Inspect raw p50/p99 ms | stream x1 img/s | stream x4 img/s | stream / raw b8 | stream ms/img "
    "| server CPU ms/img x4 | Teach 8 s | peak RSS MiB | RSS growth |"
)
RULE = "|---" * 14 + "|"

STREAM_SHARE_TARGET = 0.90
UNARY_OVERHEAD_MS = 10.0
TEACH_SECONDS_TARGET = 3.0
RSS_GROWTH_TARGET = 0.05
DINOV2_MS_TARGET = 50.0


def _best_stream_fps(run: ModelRun) -> float:
    return max(run.stream1.frames_per_second, run.stream4.frames_per_second)


def _row(run: ModelRun) -> str:
    growth = f"{run.soak.growth * 100:+.1f}% over {run.soak.frames:,}" if run.soak is not None else "-"
    cells = (
        run.model.label,
        f"{run.raw_batch1.images_per_second:.1f} ({run.raw_batch1.batch_ms_median:.1f})",
        f"{run.raw_batch8.images_per_second:.1f}",
        f"{run.raw_batch8.cpu_ms_per_image:.1f}",
        f"{run.unary_jpeg.p50_ms:.1f} / {run.unary_jpeg.p99_ms:.1f}",
        f"{run.unary_raw.p50_ms:.1f} / {run.unary_raw.p99_ms:.1f}",
        f"{run.stream1.frames_per_second:.1f}",
        f"{run.stream4.frames_per_second:.1f}",
        f"{_best_stream_fps(run) / run.raw_batch8.images_per_second:.0%}",
        f"{1000 / _best_stream_fps(run):.1f}",
        f"{run.stream4_cpu_ms_per_frame:.1f}",
        f"{run.teach_seconds:.2f}",
        f"{run.peak_rss_mib:.0f}",
        growth,
    )
    return "| " + " | ".join(cells) + " |"


def markdown_table(runs: Sequence[ModelRun]) -> str:
    return "\n".join([HEADER, RULE, *(_row(run) for run in runs)])


def _verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def target_lines(runs: Sequence[ModelRun]) -> list[str]:
    """One line per target and model, with the numbers that decide it."""
    lines = []
    for run in runs:
        name = run.model.label
        share = _best_stream_fps(run) / run.raw_batch8.images_per_second
        lines.append(
            f"- {name}: stream {share:.1%} of raw batched throughput (target >= {STREAM_SHARE_TARGET:.0%}): "
            f"{_verdict(share >= STREAM_SHARE_TARGET)}"
        )
        allowed = run.raw_batch1.batch_ms_median + UNARY_OVERHEAD_MS
        worst_p50 = max(run.unary_jpeg.p50_ms, run.unary_raw.p50_ms)
        lines.append(
            f"- {name}: unary p50 {worst_p50:.1f} ms vs raw batch-1 {run.raw_batch1.batch_ms_median:.1f} ms "
            f"+ {UNARY_OVERHEAD_MS:.0f} = {allowed:.1f} ms: {_verdict(worst_p50 <= allowed)}"
        )
        if run.model.backbone.startswith("dinov2"):
            stream_ms = 1000 / _best_stream_fps(run)
            lines.append(
                f"- {name}: Teach 8 images {run.teach_seconds:.2f} s "
                f"(target <= {TEACH_SECONDS_TARGET:.0f} s): "
                f"{_verdict(run.teach_seconds <= TEACH_SECONDS_TARGET)}; stream {stream_ms:.1f} ms/image "
                f"(target < {DINOV2_MS_TARGET:.0f}): {_verdict(stream_ms < DINOV2_MS_TARGET)}"
            )
        if run.soak is not None:
            lines.append(
                f"- {name}: peak RSS {run.soak.early_peak_mib:.0f} MiB in frames 1,001-2,000, "
                f"{run.soak.late_peak_mib:.0f} MiB in the last 1,000 of {run.soak.frames:,} frames "
                f"({run.soak.growth * 100:+.1f}%, target < "
                f"{RSS_GROWTH_TARGET:.0%}): {_verdict(run.soak.growth < RSS_GROWTH_TARGET)}"
            )
    return lines

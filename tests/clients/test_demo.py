"""`make demo` stays right: every verdict on the generated frames as expected, overlays written, the
operator's page announced and frames streamed on for the watch time."""

import re

import pytest
from patchcore_client import demo


@pytest.mark.slow
def test_demo_gets_every_verdict_right(lite0_model, tmp_path, capsys):
    out = tmp_path / "demo-out"
    arguments = ["--model", str(lite0_model), "--out", str(out), "--frames", "9", "--seed", "3"]
    assert demo.main([*arguments, "--watch", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "9/9 verdicts as expected" in lines[-1]
    assert re.fullmatch(r"operator's page: http://127\.0\.0\.1:\d+/products/demo-flange", lines[1])
    assert re.fullmatch(r"streamed [1-9]\d* more frames", lines[-2])
    assert sorted(path.name for path in out.glob("frame_*.png"))[:3] == [
        "frame_000_good.png",
        "frame_001_good.png",
        "frame_002_scratch.png",
    ]

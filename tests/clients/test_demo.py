"""`make demo` stays right: every verdict on the generated frames as expected, overlays written."""

import pytest
from patchcore_client import demo


@pytest.mark.slow
def test_demo_gets_every_verdict_right(lite0_model, tmp_path, capsys):
    out = tmp_path / "demo-out"
    assert demo.main(["--model", str(lite0_model), "--out", str(out), "--frames", "9", "--seed", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "9/9 verdicts as expected" in lines[-1]
    assert sorted(path.name for path in out.glob("frame_*.png"))[:3] == [
        "frame_000_good.png",
        "frame_001_good.png",
        "frame_002_scratch.png",
    ]

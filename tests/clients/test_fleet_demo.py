"""`make fleet-demo` stays right: both servers end at the same version and no stream saw one go back."""

import pytest
from patchcore_client import fleet_demo


@pytest.mark.slow
def test_fleet_demo_ends_with_both_servers_serving_the_same_version(lite0_model, capsys):
    assert fleet_demo.main(["--model", str(lite0_model), "--updates", "3", "--teaches", "1"]) == 0
    out = capsys.readouterr().out
    assert "versions served: {'A': 5, 'B': 5}" in out
    assert out.count("never going back") == 2

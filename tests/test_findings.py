"""A notebook's finding: reported on a reader's model, enforced in the build."""
import pytest

from numpyvit.insight.findings import differ, finding


def test_a_finding_that_holds_is_reported_with_its_numbers(capsys, monkeypatch):
    monkeypatch.delenv("NUMPYVIT_STRICT", raising=False)
    assert finding(2 > 1, "two beats one", "2 vs 1") is True
    assert capsys.readouterr().out == "holds: two beats one (2 vs 1)\n"


def test_on_a_readers_model_a_failed_finding_is_reported_and_the_notebook_goes_on(capsys, monkeypatch):
    monkeypatch.delenv("NUMPYVIT_STRICT", raising=False)
    assert finding(False, "rows beat columns", "0.05 vs 0.04") is False
    assert capsys.readouterr().out == "does not hold for this model: rows beat columns (0.05 vs 0.04)\n"


def test_in_the_build_a_failed_finding_stops_the_notebook(monkeypatch):
    monkeypatch.setenv("NUMPYVIT_STRICT", "1")
    assert finding(True, "fine") is True
    with pytest.raises(AssertionError, match="finding does not hold: rows beat columns"):
        finding(False, "rows beat columns")


def test_a_gap_inside_the_spread_is_no_difference():
    assert differ(0.981, 0.978, spread=0.004, names=("scaled", "unscaled")) == "no difference"
    assert differ(0.981, 0.970, spread=0.004, names=("scaled", "unscaled")) == "scaled ahead"
    assert differ(0.970, 0.981, spread=0.004, names=("scaled", "unscaled")) == "unscaled ahead"
    with pytest.raises(ValueError, match="spread"):
        differ(1, 2, spread=-1)

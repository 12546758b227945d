import numpy as np
import pytest

from relml.claims import ClaimFailed, Claims, parse_table


def test_table_rounds_and_round_trips():
    c = Claims("demo", scale="quick", seeds=[0, 1, 2])
    c.add("gap small", paper="< 1% (Fig. 2)", ours=0.01234, holds=np.float64(0.012) < 0.02, digits=3)
    c.add("wider is better", paper="yes", ours="0.10 → 0.02", holds=False, at=("paper",))
    text = c.table()
    assert "scale quick, seeds 0-2" in text and "| gap small | < 1% (Fig. 2) | 0.012 | yes |" in text
    rows = parse_table(text)
    assert [r["holds"] for r in rows] == ["yes", "no (not expected at this scale)"]
    c.report()  # the failed claim is not expected at quick scale


def test_report_fails_loudly_on_an_expected_claim():
    c = Claims("demo", scale="quick")
    c.add("must hold", paper="x", ours=1.0, holds=False)
    with pytest.raises(ClaimFailed, match="must hold"):
        c.report()


def test_holds_must_be_a_measured_bool():
    with pytest.raises(TypeError):
        Claims("demo", "quick").add("x", paper="x", ours=1, holds=1)
    with pytest.raises(ClaimFailed, match="no claims"):
        Claims("demo", "quick").report()

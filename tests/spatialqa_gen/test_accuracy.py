"""The accuracy report on 200 rendered scenes against the goals (slow: ~3 minutes on one core)."""
from __future__ import annotations

import pytest

from spatialqa_gen.accuracy import QUALITATIVE_GOAL, QUANTITATIVE_GOAL, report
from spatialqa_gen.qa import QUALITATIVE, QUANTITATIVE


@pytest.mark.slow
def test_accuracy_goals_on_200_scenes() -> None:
    result = report(200, seed=0)
    for name, rows in result.items():
        for row in rows:
            assert row["asked"] > 100, (name, row)
            if row["category"] in QUALITATIVE:
                assert row["success"] >= QUALITATIVE_GOAL, (name, row)
            elif row["category"] in QUANTITATIVE:
                assert row["success"] >= QUANTITATIVE_GOAL, (name, row)
            else:  # direction
                assert row["success"] >= 0.95 and row["mean_error"] < 15.0, (name, row)

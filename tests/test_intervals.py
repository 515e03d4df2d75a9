import numpy as np
import pytest

from prognos.edge_runtime.errors import ConfigError
from prognos.edge_runtime.intervals import apply_interval, empirical_coverage, fit_conformal

pytestmark = pytest.mark.edge  # runs in the prognos-edge venvs too (tests/conftest.py)


def test_conformal_coverage_on_fresh_data():
    rng = np.random.default_rng(0)

    def draw(n):
        true = rng.uniform(0, 125, n)
        return true + rng.normal(0, 3 + true / 10, n), true  # noise grows with RUL

    spec = fit_conformal(*draw(4000), coverage=0.9)
    assert spec["half_width"][0] < spec["half_width"][2]  # late life is tighter
    assert empirical_coverage(*draw(20000), spec) == pytest.approx(0.9, abs=0.015)


def test_interval_hand_worked():
    spec = {"edges": [50.0], "half_width": [5.0, 20.0]}
    low, high = apply_interval(np.array([3.0, 60.0]), spec)
    np.testing.assert_array_equal(low, [0.0, 40.0])
    np.testing.assert_array_equal(high, [8.0, 80.0])
    # k = ceil((n+1) * 0.5) = 3rd smallest of |res| = [1, 2, 3, 4] -> 3
    assert fit_conformal([1, 2, 3, 4], [0, 0, 0, 0], 0.5, edges=())["half_width"] == [3.0]
    with pytest.raises(ConfigError, match="coverage must be in"):
        fit_conformal([1], [1], coverage=1.0)

import numpy as np
import pytest

from prognos.edge_runtime.scoring import nasa_score, rmse, rul_metrics

pytestmark = pytest.mark.edge  # runs in the prognos-edge venvs too (tests/conftest.py)


def test_nasa_score_hand_worked():
    # d = pred - true = [-13, 0, 10]: exp(1)-1 + 0 + exp(1)-1 = 2(e-1) = 3.43656...
    assert nasa_score([7, 50, 30], [20, 50, 20]) == pytest.approx(2 * (np.e - 1), rel=1e-12)


def test_nasa_score_penalizes_late_more_than_early():
    assert nasa_score([30], [20]) > nasa_score([10], [20])
    assert nasa_score([30], [20]) == pytest.approx(np.exp(1) - 1)
    assert nasa_score([10], [20]) == pytest.approx(np.exp(10 / 13) - 1)


def test_rmse_hand_worked():
    assert rmse([1, 2, 3], [1, 2, 7]) == pytest.approx(np.sqrt(16 / 3))
    assert rul_metrics([0, 0], [3, 4]) == {
        "rmse": pytest.approx(3.5355, abs=1e-4),
        "score": pytest.approx(np.exp(3 / 13) + np.exp(4 / 13) - 2, abs=1e-4),
        "n": 2,
    }


def test_prometheus_label_values_are_escaped():
    from prognos.edge_runtime.metrics import StreamStats, prometheus

    stats = StreamStats()
    stats.rejected['say "hi"\\\nbye'] += 3  # a double quote, a backslash and a line feed
    page = prometheus(stats, "ab12")
    assert 'prognos_rows_rejected_total{reason="say \\"hi\\"\\\\\\nbye"} 3' in page.splitlines()
    assert all(line.startswith(("# ", "prognos_")) for line in page.splitlines())  # no sample broken in two

"""Operating regimes: found on training rows, applied identically by the device, unknown ones flagged."""

import numpy as np
import pytest

from prognos.edge_runtime.features import Preprocessor
from prognos.pipeline.config import DataConfig
from prognos.pipeline.data.dataset import CMAPSS_LAYOUT, Layout, fit_preprocessor, inputs_of, window_index
from prognos.pipeline.data.regimes import fit_regimes, silhouette


def regime_table(n_units=6, seed=0, k=3):
    """A fleet of k operating conditions: settings cluster, sensors = regime offset + wear + noise."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(1, n_units + 1):
        life = int(rng.integers(60, 90))
        t = np.arange(1, life + 1)
        r = rng.integers(0, k, life)
        settings = np.column_stack([10.0 * r, 0.3 * r]) + rng.normal(0, 0.01, (life, 2))
        wear = (t / life) ** 2
        sensors = np.column_stack([50 * r + 3 * wear, -20 * r - 2 * wear, 5 * r + 0 * wear]) + rng.normal(
            0, 0.3, (life, 3)
        )
        rows.append(np.column_stack([np.full(life, u), t, settings, sensors]))
    return np.concatenate(rows), Layout(("asset", "hours", "load", "speed", "a", "b", "c"), ("load", "speed"))


def test_silhouette_matches_its_definition():
    z = np.array([[0.0], [1.0], [10.0], [12.0]])
    labels = np.array([0, 0, 1, 1])
    a = np.array([1, 1, 2, 2])  # mean distance to the other member of its cluster
    b = np.array([11, 10, 9.5, 11.5])  # mean distance to the other cluster
    assert silhouette(z, labels) == pytest.approx(np.mean((b - a) / np.maximum(a, b)))


def test_k_found_on_well_separated_settings_and_one_regime_on_noise():
    table, layout = regime_table()
    r = fit_regimes(table[:, 2:4], ["load", "speed"], table[:, 4:])
    assert r.k == 3 and r.fit["silhouette"][3] > 0.9
    noise = np.random.default_rng(1).normal(size=(500, 2))
    assert fit_regimes(noise, ["x", "y"], noise).k == 1


@pytest.mark.parametrize("onehot", [False, True])
def test_device_regime_path_equals_training_exactly(onehot):
    """Training windows (bulk, window_index) == the device's per-row Preprocessor.regime_step + ring; with
    data.regime_onehot the window has one more column per regime (smoothed like the sensors: the EMA of a
    one-hot is the recent share of time in each regime)."""
    table, layout = regime_table()
    cfg = DataConfig(window=8, min_abs_corr=0.1, age_feature=True, smoothing=0.2, regime_onehot=onehot)
    pre = Preprocessor.from_dict(fit_preprocessor(table, cfg, layout).to_dict())  # through the manifest's JSON
    assert len(pre.regimes["centroids"]) == 3 and pre.inputs[-2:] == ["load", "speed"]
    assert pre.features[0] == "hours" and "c" not in pre.features  # c carries the regime only
    rows = inputs_of(table[table[:, 0] == 2], pre)
    ema, device = None, []
    for row in rows:  # what edge_runtime.stream does per accepted row
        z, _, known = pre.regime_step(row)
        ema = pre.smooth_step(ema, z)
        device.append(ema.astype(np.float32))
        assert known and (not onehot or sorted(z[-3:]) == [0, 0, 1])
    idx = window_index(table[table[:, 0] == 2], pre)
    assert idx.x.shape[-1] == len(pre.features) + 3 * onehot
    np.testing.assert_array_equal(idx.x[-1], np.stack(device[-8:]))
    np.testing.assert_array_equal(pre.last_window(rows), np.stack(device[-8:]))


def test_unknown_regime_is_reported():
    table, layout = regime_table()
    pre = fit_preprocessor(table, DataConfig(window=8, min_abs_corr=0.1), layout)
    rows = inputs_of(table[:3], pre)
    far = rows[0].copy()
    far[pre.inputs.index("load")] = 45.0  # between no training regimes: 10 x 4.5
    _, known = pre.regime_of(np.stack([rows[0], far]))
    assert known.tolist() == [True, False]


def test_fd002_has_six_regimes(cmapss_dir):
    from prognos.pipeline.data import cmapss

    path = cmapss_dir / "FD002" / "train_FD002.txt"
    if not path.exists():
        pytest.skip(f"{path} not found")
    table = cmapss.load_table(path)
    pre = fit_preprocessor(table, DataConfig(), CMAPSS_LAYOUT)
    assert len(pre.regimes["centroids"]) == 6
    assert pre.selection["regimes"]["rows_per_regime"] and sum(pre.selection["regimes"]["rows_per_regime"]) == len(
        table
    )


def test_fd001_stays_one_regime_with_global_normalization(cmapss_dir):
    """FD001's settings jitter around one condition: no regimes, the preprocessing of before."""
    from prognos.pipeline.data import cmapss

    pre = fit_preprocessor(cmapss.load_table(cmapss_dir / "train_FD001.txt"), DataConfig(), CMAPSS_LAYOUT)
    assert pre.regimes == {} and pre.columns == [] and pre.inputs == pre.features
    assert "setting_3" not in pre.features and len(pre.features) == 14


def test_input_ranges_cover_the_features_not_the_regime_onehot():
    """The bundle's out-of-distribution ranges are per feature; the one-hot columns after them are not ranged."""
    from prognos.export.bundle import input_ranges

    table, layout = regime_table()
    cfg = DataConfig(window=8, min_abs_corr=0.1, age_feature=True, regime_onehot=True)
    pre = Preprocessor.from_dict(fit_preprocessor(table, cfg, layout).to_dict())
    x = window_index(table, pre).x
    f = len(pre.features)
    assert x.shape[-1] == f + 3
    r = input_ranges(pre, x)
    np.testing.assert_allclose(r["low"], np.quantile(x[..., :f].reshape(-1, f), 0.001, axis=0), atol=1e-5)
    np.testing.assert_allclose(r["high"], np.quantile(x[..., :f].reshape(-1, f), 0.999, axis=0), atol=1e-5)

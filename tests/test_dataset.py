import numpy as np
import pytest

from prognos.edge_runtime.features import Preprocessor, pad_front, sliding_windows
from prognos.pipeline.data import cmapss
from prognos.pipeline.config import DataConfig
from prognos.edge_runtime.errors import ConfigError
from prognos.pipeline.data.cmapss import rul_targets
from prognos.pipeline.data.dataset import (
    _moving_average,
    engine_mixed,
    feature_matrix,
    fit_preprocessor,
    last_windows,
    rows_of,
    split_units,
    time_warped,
    training_windows,
)

LITERATURE_14 = ["s2", "s3", "s4", "s7", "s8", "s9", "s11", "s12", "s13", "s14", "s15", "s17", "s20", "s21"]


@pytest.fixture(scope="module")
def sim_table(sim_dir):
    return cmapss.load_table(sim_dir / "train_SIM.txt")


def test_split_by_unit_is_disjoint_and_complete(sim_table):
    train, val = split_units(sim_table, 0.25, seed=0)
    assert len(val) == 4 and not set(train) & set(val)
    assert set(train) | set(val) == set(np.unique(sim_table[:, 0]).astype(int))
    assert not np.array_equal(split_units(sim_table, 0.25, seed=1)[1], val)


def test_windows_labels_and_shapes(sim_table):
    pre = fit_preprocessor(sim_table, DataConfig(window=30))
    w = training_windows(rows_of(sim_table, [1]), pre)
    n_cycles = int((sim_table[:, 0] == 1).sum())
    assert w.x.shape == (n_cycles - 29, 30, len(pre.features))
    assert w.y[-1] == 0 and w.y.max() == pytest.approx(1.0)  # RUL / cap, capped
    assert w.cycle[0] == 30 and (w.unit == 1).all()


def test_time_warped_copies_are_whole_units_worn_faster_or_slower(sim_table):
    table = rows_of(sim_table, [1, 2, 3])
    warped = time_warped(table[::-1], [0.8, 1.25])  # row order must not matter
    assert np.array_equal(warped[: len(table)], table[::-1])  # the originals come first, unchanged
    for k, s in enumerate([0.8, 1.25], start=1):
        for u in (1, 2, 3):
            src, copy = table[table[:, 0] == u], warped[warped[:, 0] == u + 3 * k]
            assert len(copy) == round(s * len(src)) and np.array_equal(copy[:, 1], np.arange(1, len(copy) + 1))
            assert np.array_equal(copy[[0, -1], 2:], src[[0, -1], 2:])  # from new to the same failure
            assert {tuple(r) for r in copy[:, 2:]} <= {tuple(r) for r in src[:, 2:]}  # real rows, no interpolation
            assert rul_targets(copy, 1e9)[0] == len(copy) - 1
    assert time_warped(table, []) is table
    with pytest.raises(ConfigError, match=r"train.time_warp \[3\]; expected stretch factors between 0.5 and 2"):
        time_warped(table, [3])


def test_engine_mixed_copies_keep_their_life_and_noise_and_wear_toward_a_partner(sim_table):
    table = rows_of(sim_table, [1, 2, 3])
    mixed = engine_mixed(table[::-1], 2, seed=0)  # row order must not matter
    assert set(np.unique(mixed[:, 0])) == {4, 5, 6, 7, 8, 9}  # new unit ids above the table's
    trend = {u: _moving_average(table[table[:, 0] == u][:, 2:], 21) for u in (1, 2, 3)}
    for k in (1, 2):
        for u in (1, 2, 3):
            src, copy = table[table[:, 0] == u], mixed[mixed[:, 0] == u + 3 * k]
            assert np.array_equal(copy[:, 1], src[:, 1])  # the same cycles: life unchanged
            shift = copy[-1, 2:] - src[-1, 2:]  # at failure: w x (partner's trend - own trend)
            gaps = [trend[p][-1] - trend[u][-1] for p in {1, 2, 3} - {u}]
            assert any(
                0.25 <= w <= 0.75 and np.allclose(shift, w * gap, atol=1e-6)
                for gap in gaps
                for w in [np.median(shift / (gap + 1e-12))]
            )
            step = np.abs(np.diff(copy[:, 2:] - src[:, 2:], axis=0)).max()
            assert step < np.abs(np.diff(src[:, 2:], axis=0)).max()  # a smooth shift: the copy keeps its noise
    assert len(engine_mixed(table, 0, seed=0)) == 0
    with pytest.raises(ConfigError, match="train.engine_mix 2 needs at least 2 training units to mix, got 1"):
        engine_mixed(rows_of(sim_table, [1]), 2, seed=0)


def test_normalization_fitted_on_training_units_only(sim_table):
    train, val = split_units(sim_table, 0.25, seed=0)
    pre = fit_preprocessor(rows_of(sim_table, train), DataConfig())
    z_train = pre.normalize(feature_matrix(rows_of(sim_table, train), pre.features))
    np.testing.assert_allclose(z_train.mean(0), 0, atol=1e-3)
    np.testing.assert_allclose(z_train.std(0), 1, atol=1e-3)
    z_val = pre.normalize(feature_matrix(rows_of(sim_table, val), pre.features))
    assert np.abs(z_val.mean(0)).max() > 1e-2  # validation units did not shape the statistics


def test_last_window_edge_padding():
    pre = Preprocessor(["a"], [0.0], [1.0], window=4)
    np.testing.assert_array_equal(pre.last_window(np.array([[5.0], [6.0]]))[:, 0], [5, 5, 5, 6])
    np.testing.assert_array_equal(pad_front(np.arange(3.0)[:, None], 2)[:, 0], [0, 1, 2])
    assert sliding_windows(np.zeros((3, 2)), 4).shape == (0, 4, 2)


def test_last_windows_one_per_unit(sim_dir, sim_table):
    pre = fit_preprocessor(sim_table, DataConfig())
    units, x = last_windows(cmapss.load_table(sim_dir / "test_SIM.txt"), pre)
    assert x.shape == (8, 30, len(pre.features)) and list(units) == list(range(1, 9))


def test_sensor_selection_on_simulator(sim_table):
    pre = fit_preprocessor(sim_table, DataConfig())
    assert set(pre.features) == set(LITERATURE_14)  # the simulator's drifting sensors
    assert "setting_1" not in pre.features and pre.selection["abs_corr"]["s1"] == 0.0


def test_sensor_selection_on_real_fd001(cmapss_dir):
    table = cmapss.load_table(cmapss_dir / "train_FD001.txt")
    pre = fit_preprocessor(table, DataConfig())
    assert pre.features == LITERATURE_14  # the literature's 14 informative sensors, found from data


def test_smoothing_is_the_same_in_batch_and_stream():
    pre = Preprocessor(["a", "b"], [0.0, 0.0], [1.0, 1.0], window=3, smoothing=0.5)
    rows = np.array([[0.0, 4.0], [2.0, 4.0], [4.0, 0.0], [0.0, 0.0]])
    np.testing.assert_allclose(pre.smooth(rows)[:, 0], [0, 1, 2.5, 1.25])  # s_t = .5 x_t + .5 s_{t-1}
    state, stream = None, []
    for r in rows:
        state = pre.smooth_step(state, r)
        stream.append(state)
    np.testing.assert_allclose(pre.last_window(np.array(stream[-3:]), smoothed=True), pre.last_window(rows))
    with pytest.raises(Exception, match="smoothing must be in"):
        Preprocessor(["a"], [0.0], [1.0], smoothing=1.5)


def test_padded_training_windows_match_device_padding(sim_table):
    pre = fit_preprocessor(sim_table, DataConfig(window=30))
    rows = rows_of(sim_table, [1])
    w = training_windows(rows, pre, min_cycles=5)
    n_cycles = len(rows)
    assert w.x.shape[0] == n_cycles - 4 and w.cycle[0] == 5
    feats = feature_matrix(rows, pre.features)
    np.testing.assert_allclose(w.x[0], pre.last_window(feats[:5]))  # what the device sees at cycle 5
    np.testing.assert_allclose(w.x[-1], pre.last_window(feats))


def test_age_feature_is_the_cycle_column_on_both_sides(sim_table):
    from prognos.edge_runtime.errors import RowError
    from prognos.edge_runtime.rows import JsonRowParser, RowParser

    pre = fit_preprocessor(sim_table, DataConfig(age_feature=True))
    assert pre.features[0] == "cycle" and set(pre.features[1:]) == set(LITERATURE_14)
    w = training_windows(rows_of(sim_table, [1]), pre)
    np.testing.assert_allclose(w.x[0, :, 0] * pre.std[0] + pre.mean[0], np.arange(1, 31), rtol=1e-5)
    row = sim_table[sim_table[:, 0] == 1][6]
    unit, cycle, values = RowParser(pre.features).parse(" ".join(map(str, row)), 1)
    assert (unit, cycle) == (1, 7) and values[0] == 7.0  # the device reads the age from the row's cycle
    obj = {"unit": 1, "cycle": 7, **{f: 1.0 for f in LITERATURE_14}}
    assert JsonRowParser(pre.features).parse_obj(obj, "line 1")[2][0] == 7.0
    with pytest.raises(RowError, match="line 2: no value for 'cycle'"):  # a timestamp is not an age
        JsonRowParser(pre.features).parse_obj({"unit": 1, "ts": 7.0, **{f: 1.0 for f in LITERATURE_14}}, "line 2")

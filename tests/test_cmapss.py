import numpy as np
import pytest

from prognos.edge_runtime.errors import DataError
from prognos.pipeline.data import cmapss

ROW = (
    "1 {c} -0.0007 -0.0004 100.0 518.67 641.82 1589.70 1400.60 14.62 21.61 554.36 2388.06 9046.19 "
    "1.30 47.47 521.66 2388.02 8138.62 8.4195 0.03 392 2388 100.00 39.06 23.4190  \n"
)


def write(tmp_path, text, name="train_X.txt"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_loads_trailing_spaces_and_labels_rul(tmp_path):
    table = cmapss.load_table(write(tmp_path, "".join(ROW.format(c=c) for c in range(1, 6))))
    assert table.shape == (5, 26)
    assert table[0, 6] == pytest.approx(641.82)
    np.testing.assert_array_equal(cmapss.rul_targets(table, cap=3), [3, 3, 2, 1, 0])
    np.testing.assert_array_equal(cmapss.rul_targets(table, cap=125), [4, 3, 2, 1, 0])


@pytest.mark.parametrize(
    "bad, match",
    [
        ("1 3 0.1 0.2\n", r"train_X.txt:3: 4 columns, expected 26"),
        (ROW.format(c=3).replace("641.82", "abc"), r"train_X.txt:3: 'abc' is not a number"),
        (ROW.format(c=3).replace("641.82", "nan"), r"train_X.txt:3: NaN or infinite"),
    ],
)
def test_malformed_line_named(tmp_path, bad, match):
    text = ROW.format(c=1) + ROW.format(c=2) + bad
    with pytest.raises(DataError, match=match):
        cmapss.load_table(write(tmp_path, text))


def test_repeated_cycle_and_missing_file(tmp_path):
    with pytest.raises(DataError, match="unit 1 has cycles out of order"):
        cmapss.load_table(write(tmp_path, ROW.format(c=2) + ROW.format(c=2)))
    with pytest.raises(DataError, match="no such file"):
        cmapss.load_table(tmp_path / "nope.txt")


def test_rul_file(tmp_path):
    p = write(tmp_path, "112\n98\n", "RUL_X.txt")
    np.testing.assert_array_equal(cmapss.load_rul_file(p, 2), [112, 98])
    with pytest.raises(DataError, match="2 values, expected one per test unit \\(3\\)"):
        cmapss.load_rul_file(p, 3)


def test_find_subset(tmp_path):
    write(tmp_path, ROW.format(c=1), "train_FD009.txt")
    assert cmapss.find_subset(tmp_path) == "FD009"
    write(tmp_path, ROW.format(c=1), "train_FD010.txt")
    with pytest.raises(DataError, match="expected exactly one"):
        cmapss.find_subset(tmp_path)


def test_real_fd001(cmapss_dir):
    train = cmapss.load_table(cmapss_dir / "train_FD001.txt")
    test = cmapss.load_table(cmapss_dir / "test_FD001.txt")
    assert train.shape == (20631, 26) and test.shape == (13096, 26)
    assert len(np.unique(train[:, 0])) == 100 and len(np.unique(test[:, 0])) == 100
    assert cmapss.rul_targets(train, 125).max() == 125 and cmapss.rul_targets(train, 125).min() == 0


def test_simulator_is_deterministic_and_loadable(tmp_path):
    from prognos.pipeline.data.simulate import write_dataset

    a, b = write_dataset(tmp_path / "a", 5, 4, seed=1), write_dataset(tmp_path / "b", 5, 4, seed=1)
    assert (a / "train_SIM.txt").read_bytes() == (b / "train_SIM.txt").read_bytes()
    train, test = cmapss.load_table(a / "train_SIM.txt"), cmapss.load_table(a / "test_SIM.txt")
    rul = cmapss.load_rul_file(a / "RUL_SIM.txt", 4)
    assert len(np.unique(train[:, 0])) == 5 and (rul >= 0).all()
    assert len(np.unique(test[:, 0])) == 4
    assert train[:, 1].max() >= 128  # run to failure: at least the shortest FD001 life
    s4 = train[train[:, 0] == 1, 8]  # s4 drifts upward toward failure
    assert s4[-10:].mean() - s4[:10].mean() > 10

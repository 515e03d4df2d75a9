"""CWRU loader on real files (when PROGNOS_DATA_DIR has cwru/) and on the bearing simulator's files."""

import os
from pathlib import Path

import numpy as np
import pytest
from scipy.io import savemat

from prognos.edge_runtime import dsp
from prognos.edge_runtime.errors import ConfigError, DataError
from prognos.pipeline.data import bearing_sim, cwru

DATA = Path(os.environ.get("PROGNOS_DATA_DIR", Path(__file__).resolve().parents[1] / ".." / "shared" / "data"))
CWRU = DATA / "cwru"
real = pytest.mark.skipif(not CWRU.is_dir(), reason=f"no CWRU data at {CWRU} (set PROGNOS_DATA_DIR)")
FS = cwru.SAMPLE_RATE


@pytest.fixture(scope="module")
def sim_dir(tmp_path_factory):
    return bearing_sim.write_dataset(tmp_path_factory.mktemp("sim"), loads=(0, 1), seconds=2.0, seed=3)


def peak_frequency(x, lo=20.0, hi=400.0, band=(2000.0, 5000.0)):
    """Frequency of the highest envelope-spectrum line between lo and hi Hz."""
    es = dsp.envelope_spectrum(x, FS, band)
    f = dsp.fft_frequencies(len(x), FS)
    sel = (f > lo) & (f < hi)
    return f[sel][np.argmax(es[sel])]


@real
def test_real_file_signal_speed_and_labels():
    rec = cwru.load_file(CWRU / "12k_Drive_End_IR007_0_105.mat")
    assert rec.sample_rate == 12000 and rec.variable == "X105_DE_time"
    assert rec.signal.dtype == np.float32 and rec.signal.ndim == 1 and len(rec.signal) > 100_000
    assert 0.05 < float(np.sqrt(np.mean(rec.signal**2))) < 2.0  # g
    assert rec.rpm_source == "file" and rec.rpm == 1797.0
    assert (rec.label.fault, rec.label.size_mils, rec.label.load_hp, rec.label.label10) == ("inner_race", 7, 0, 1)
    bpfi = bearing_sim.BEARING_6205["BPFI"] * rec.shaft_hz
    assert peak_frequency(rec.signal[:48000]) == pytest.approx(bpfi, rel=0.02)


@real
def test_real_file_names_all_parse():
    paths = cwru.list_files(CWRU)
    assert len(paths) == 19
    labels = [cwru.parse_name(p) for p in paths]
    assert sorted({lab.label10 for lab in labels}) == list(range(10))
    assert sorted({lab.label4 for lab in labels}) == [0, 1, 2, 3]
    assert {lab.load_hp for lab in labels} == {0, 1}
    by_name = dict(zip((p.name for p in paths), labels))
    assert by_name["normal_0_97.mat"] == cwru.CwruLabel("normal", 0, 0, 97)
    assert by_name["12k_Drive_End_OR021@6_1_235.mat"] == cwru.CwruLabel("outer_race", 21, 1, 235)
    assert by_name["12k_Drive_End_B014_0_185.mat"].label10 == 5
    assert len(cwru.list_files(CWRU, loads=[1])) == 9


def test_class_order_and_names():
    assert cwru.CLASSES_10 == ("normal", "IR007", "IR014", "IR021", "B007", "B014", "B021", "OR007", "OR014", "OR021")
    classes = [("normal", 0)] + [(f, s) for f in ("inner_race", "ball", "outer_race") for s in (7, 14, 21)]
    for index, (fault, size) in enumerate(classes):
        name, rec = bearing_sim.file_name(fault, size, 1)
        label = cwru.parse_name(name)
        assert (label.fault, label.size_mils, label.load_hp, label.recording) == (fault, size, 1, rec)
        assert label.label10 == index and label.label4 == cwru.FAULTS.index(fault)


@pytest.mark.parametrize(
    "name",
    [
        "12k_Drive_End_IR028_0_3001.mat",
        "48k_Drive_End_IR007_0_109.mat",
        "12k_Drive_End_OR007@3_0_144.mat",
        "12k_Drive_End_IR007@6_0_105.mat",
        "12k_Drive_End_OR007_0_130.mat",
        "normal_4_101.mat",
        "notes.mat",
    ],
)
def test_unknown_names_raise(name):
    with pytest.raises(DataError, match=f"{name}: .*expected '12k_Drive_End_"):
        cwru.parse_name(name)


def test_simulator_round_trip_through_the_loader(sim_dir):
    records = cwru.load_folder(sim_dir)
    assert len(records) == 20
    assert sorted((r.label.load_hp, r.label.label10) for r in records) == [(ld, c) for ld in (0, 1) for c in range(10)]
    for r in records:
        assert r.rpm_source == "file" and r.rpm == cwru.NOMINAL_RPM[r.label.load_hp]
        assert r.variable == f"X{r.label.recording:03d}_DE_time"
        assert len(r.signal) == (48000 if r.label.fault == "normal" else 24000)
    assert len(cwru.load_folder(sim_dir, loads=1)) == 10


def test_simulator_is_seeded_and_deterministic():
    a = bearing_sim.simulate_recording("ball", 14, 0, 0.5, seed=7)
    np.testing.assert_array_equal(a, bearing_sim.simulate_recording("ball", 14, 0, 0.5, seed=7))
    assert not np.allclose(a, bearing_sim.simulate_recording("ball", 14, 0, 0.5, seed=8))
    with pytest.raises(ConfigError, match="expected 'normal' or one of inner_race, ball, outer_race"):
        bearing_sim.simulate_recording("cage", 7, 0, 1.0, seed=0)


@pytest.mark.parametrize("fault,ratio", [("inner_race", "BPFI"), ("outer_race", "BPFO")])
@pytest.mark.parametrize("load", [0, 1])
def test_simulated_envelope_spectrum_peaks_at_the_fault_frequency(sim_dir, fault, ratio, load):
    name, _ = bearing_sim.file_name(fault, 7, load)
    rec = cwru.load_file(sim_dir / name)
    expected = bearing_sim.BEARING_6205[ratio] * rec.shaft_hz
    assert peak_frequency(rec.signal) == pytest.approx(expected, rel=0.02)


def test_time_segment_split_has_no_overlap():
    assert cwru.split_bounds(10000, 0.8, 2048) == (slice(0, 8000), slice(10000, 10000))  # nothing left after the gap
    train, val = cwru.split_bounds(100000, 0.75, 2048)
    assert train.stop + 2048 == val.start
    label = cwru.CwruLabel("ball", 7, 0, 118)
    recs = [
        cwru.CwruRecord(Path(f"r{i}"), np.arange(50000, dtype=np.float32), label, 1797.0, "nominal", "X")
        for i in range(2)
    ]
    split = cwru.split_windows(recs, window=1000, hop=250, train_fraction=0.8)
    for i in range(2):  # sample values are sample indices: compare positions within each recording
        tr, va = split.x_train[split.rec_train == i], split.x_val[split.rec_val == i]
        assert tr.max() < 40000 and va.min() >= 41000 and tr.max() + 1000 < va.min()
        assert len(tr) == 1 + (40000 - 1000) // 250 and len(va) == 1 + (9000 - 1000) // 250
    assert np.all(split.y_train == 4) and np.all(split.y_val == 4)
    with pytest.raises(ConfigError, match="train_fraction must be strictly between 0 and 1"):
        cwru.split_bounds(100, 1.0, 10)


def test_loader_errors(tmp_path):
    with pytest.raises(DataError, match="no such folder"):
        cwru.list_files(tmp_path / "missing")
    with pytest.raises(DataError, match="no .mat files"):
        cwru.list_files(tmp_path)
    (tmp_path / "normal_0_97.mat").write_bytes(b"not a mat file at all" * 10)
    with pytest.raises(DataError, match="normal_0_97.mat: unreadable as a MATLAB"):
        cwru.load_file(tmp_path / "normal_0_97.mat")
    savemat(tmp_path / "normal_0_97.mat", {"X097_FE_time": np.zeros((10, 1))})
    with pytest.raises(DataError, match=r"0 drive-end variables \[\]; expected exactly one X<nnn>_DE_time"):
        cwru.load_file(tmp_path / "normal_0_97.mat")
    savemat(tmp_path / "normal_0_97.mat", {"X097_DE_time": np.zeros((10, 1)), "X098_DE_time": np.zeros((10, 1))})
    with pytest.raises(DataError, match=r"2 drive-end variables \['X097_DE_time', 'X098_DE_time'\]"):
        cwru.load_file(tmp_path / "normal_0_97.mat")
    with pytest.raises(ConfigError, match="loads must be motor loads in HP"):
        cwru.list_files(tmp_path, loads=[5])
    with pytest.raises(DataError, match=r"no recordings at loads \[2\] HP; found loads \[0\]"):
        cwru.list_files(tmp_path, loads=[2])
    (tmp_path / "12k_Drive_End_X007_0_1.mat").write_bytes(b"")
    with pytest.raises(DataError, match="12k_Drive_End_X007_0_1.mat: unknown CWRU file name"):
        cwru.list_files(tmp_path)


def test_mismatched_x_number_and_missing_rpm(tmp_path):
    savemat(tmp_path / "12k_Drive_End_B007_2_120.mat", {"X121_DE_time": np.ones((50, 1))})  # number differs
    rec = cwru.load_file(tmp_path / "12k_Drive_End_B007_2_120.mat")
    assert rec.variable == "X121_DE_time" and rec.signal.shape == (50,)
    assert rec.rpm_source == "nominal" and rec.rpm == 1750.0

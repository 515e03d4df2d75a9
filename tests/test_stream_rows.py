"""The vectorized tick path (`StreamEngine.add_rows`) gives exactly what `add` row by row gives."""

import dataclasses

import numpy as np
import pytest

from prognos.edge_runtime.bundle import Bundle
from prognos.edge_runtime.errors import RowError
from prognos.edge_runtime.regimes import Regimes
from prognos.edge_runtime.stream import StreamConfig, StreamEngine

pytestmark = pytest.mark.edge  # runs in the prognos-edge venvs too (tests/conftest.py)


def _rows(sim_dir, pre, n_units=5) -> list:
    """(unit, cycle, the bundle's raw inputs) interleaved cycle by cycle, plus rows the engine rejects
    (duplicate, out of order, too few values) and runs of one unit (several rows of an asset per tick)."""
    cols = pre.table_columns
    table = np.loadtxt(sim_dir / "test_SIM.txt")
    table = table[table[:, 0] <= n_units]
    table = table[np.lexsort((table[:, 0], table[:, 1]))]  # cycle by cycle across units
    idx = [cols.index(c) for c in pre.inputs]
    rows = [(int(r[0]), int(r[1]), r[idx].tolist()) for r in table]
    unit, cycle, values = rows[40]
    extra = [(unit, cycle, values), (unit, cycle - 3, values), (unit, cycle + 1, values[:-1])]
    run = [(99, c, values) for c in range(1, 12)]
    return rows[:41] + extra + run + rows[41:]


def _row_by_row(engine, rows):
    preds, events, reasons = [], [], []
    for row in rows:
        try:
            full = engine.add(*row)
        except RowError as e:
            reasons.append(e.reason)
            continue
        if full:
            p, e = engine.flush()
            preds, events = preds + p, events + e
    p, e = engine.flush()
    return preds + p, events + e, reasons


def _vectorized(engine, rows):
    preds, events, errors = [], [], []
    for i in range(0, len(rows), 13):  # ticks of 13 rows: some hold an asset twice
        p, e, err = engine.add_rows(rows[i : i + 13])
        preds, events, errors = preds + p, events + e, errors + err
    p, e = engine.flush()
    return preds + p, events + e, [x.reason for x in errors]


def _with_regimes(pre, rows):
    """The bundle's preprocessing with two operating regimes (setting_1 and setting_2); some rows unknown."""
    s = np.array([r[2][-2:] for r in rows])
    z = (s - s.mean(0)) / s.std(0)
    centroids = [z[z[:, 0] < 0].mean(0).tolist(), z[z[:, 0] >= 0].mean(0).tolist()]
    n = len(pre.features)
    regimes = Regimes(
        ["setting_1", "setting_2"],
        s.mean(0).tolist(),
        s.std(0).tolist(),
        centroids,
        [pre.mean, (np.asarray(pre.mean) + 0.1).tolist()],
        [pre.std, (np.asarray(pre.std) * 2).tolist()],
        max_distance=1.0,
        margin=1.0,
    )
    regimes.max_distance = float(np.quantile(regimes.distances(s).min(1), 0.9))  # 10 % of rows unknown
    assert len(pre.mean) == n
    return dataclasses.replace(pre, regimes=regimes.to_dict())


@pytest.mark.parametrize("regimes", [False, True])
def test_tick_path_equals_row_by_row(tiny_run, sim_dir, regimes):
    bundle = Bundle(tiny_run["dir"] / "bundles" / "onnx_fp32")
    assert bundle.preprocessor.smoothing > 0  # the EMA state is part of what must match
    if regimes:
        plain = _rows(sim_dir, bundle.preprocessor)  # features only; settings added by the regime inputs
        bundle.preprocessor = _with_regimes(bundle.preprocessor, _rows(sim_dir, _settings_pre(bundle)))
    rows = _rows(sim_dir, bundle.preprocessor)
    config = StreamConfig(max_batch=5, max_assets=5, stride=3)
    a, b = StreamEngine(bundle, config), StreamEngine(bundle, config)
    expected, got = _row_by_row(a, rows), _vectorized(b, rows)
    assert got == expected
    assert a.stats.to_dict() == b.stats.to_dict()
    assert a.stats.assets_evicted > 0 and len(expected[0]) > 50
    assert expected[2] == ["duplicate_cycle", "out_of_order", "malformed"]
    if regimes:
        assert a.stats.unknown_regime > 0 and any(p["status"] == "unknown_regime" for p in expected[0])
        assert len(plain[0][2]) < len(rows[0][2])


def _settings_pre(bundle):
    """The bundle's preprocessing reading settings 1 and 2 besides its features (to pick regimes)."""
    pre = bundle.preprocessor
    return dataclasses.replace(
        pre, features=[*pre.features, "setting_1", "setting_2"], mean=[*pre.mean, 0, 0], std=[*pre.std, 1, 1]
    )


def test_rings_keep_their_windows_when_the_pool_grows():
    from prognos.edge_runtime.rings import Rings

    rings, history = Rings(window=3, width=2, capacity=2), {}
    slots = []
    for step in range(5):
        slots.append(rings.allocate())  # one more asset per step: grows 2 -> 4 -> 8 while rings hold rows
        s = np.array(slots)
        rows = np.arange(len(s) * 2, dtype=np.float32).reshape(-1, 2) + 10 * step
        new = rings.seen[s] == 0
        i = rings.append(s, rows, new)
        for slot, row in zip(slots, rows):
            history.setdefault(slot, []).append(row)
        out = np.empty((len(s), 3, 2), np.float32)
        rings.windows(s, i, out)
        for k, slot in enumerate(slots):
            h = history[slot]
            np.testing.assert_array_equal(out[k], np.stack(([h[0]] * 3 + h)[-3:]))  # edge-padded front
    assert len(rings.seen) == 8

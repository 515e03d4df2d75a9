"""Dataset spec, fleet readers (CSV, Parquet, C-MAPSS preset), their rules, censoring, the data card
and the simulated pump fleet (issue 16)."""

import json
import re

import numpy as np
import pytest

from prognos.edge_runtime.errors import ConfigError, DataError
from prognos.pipeline.data import cmapss
from prognos.pipeline.data.card import data_card, spearman, summary, write_card
from prognos.pipeline.data.readers import find_spec, read_fleet, read_test_fleet
from prognos.pipeline.data.spec import SPEC_CMAPSS, load_spec, spec_from_dict
from tests.conftest import data_dir

BASE = {"files": "fleet.csv", "asset": "asset", "time": "time", "settings": ["load"], "failures": "all"}
GOOD = "asset,time,load,temp,vib\n" + "".join(
    f"{a},{t},{1 + t % 2},{10 + t},{0.1 * t:.1f}\n" for a in "ab" for t in range(1, 6)
)


def fleet_of(tmp_path, text, **spec):
    (tmp_path / "fleet.csv").write_text(text)
    return read_fleet(spec_from_dict({**BASE, **spec}), tmp_path)


def refused(tmp_path, text, message, **spec):
    with pytest.raises(DataError) as e:
        fleet_of(tmp_path, text, **spec)
    assert re.search(message, str(e.value)), str(e.value)
    return str(e.value)


# ---- the spec: every refused key ------------------------------------------------------------------


@pytest.mark.parametrize(
    "d, message",
    [
        ({"colour": "red"}, r"unknown keys \['colour'\]; expected some of \['files'"),
        ({"max_fill": "three"}, r"max_fill = 'three' \(str\); expected an integer >= 0"),
        ({"max_fill": -1}, r"max_fill = -1 \(int\); expected an integer >= 0"),
        ({"drop_constant": 1}, r"drop_constant = 1 \(int\); expected true or false"),
        ({"sensors": "all"}, r"sensors = 'all' \(str\); expected \"auto\" or a list of strings"),
        ({"settings": ["a", 2]}, r"settings = \['a', 2\] \(list\); expected a list of strings"),
        ({"format": "xls"}, r"format = 'xls'; expected one of \['auto', 'cmapss', 'csv', 'parquet'\]"),
        ({"long_gaps": "fill"}, r"long_gaps = 'fill'; expected one of \['refuse', 'keep'\]"),
        ({"failures": "sometimes"}, r"failures = 'sometimes'; expected \"all\", \"none\""),
        ({"failures": {"column": "f", "events": "e.csv"}}, r"expected \{column = NAME\} or \{events = FILE"),
        ({"failures": {"events": ""}}, r"with non-empty strings"),
        ({"resample": "1 week"}, r"resample = '1 week': expected a positive step like \"1h\""),
        ({"resample": "0h"}, r"resample = '0h'"),
        ({"settings": ["temp"], "sensors": ["temp"]}, r"columns \['temp'\] given more than one role"),
    ],
)
def test_spec_refuses(d, message):
    with pytest.raises(ConfigError, match=message):
        spec_from_dict(d, "schema.toml")


def test_spec_files(tmp_path):
    run = tmp_path / "run.toml"
    run.write_text('[data]\nwindow = 30\n[data.schema]\nasset = "id"\nsensors = ["a", "b"]\nresample = "15min"\n')
    spec = load_spec(run)
    assert (spec.asset, spec.sensors, spec.step_seconds) == ("id", ("a", "b"), 900)
    own = tmp_path / "schema.toml"
    own.write_text('asset = "id"\nfailures = { events = "f.csv", time = "failed_at" }\n')
    assert load_spec(own).failures.events == "f.csv" and load_spec(own).failures.time == "failed_at"
    (tmp_path / "bad.toml").write_text("[data]\nwindow = 30\n")
    for path, message in [
        (tmp_path / "bad.toml", r"no \[data.schema\] table"),
        (tmp_path / "none.toml", "no such config file"),
    ]:
        with pytest.raises(ConfigError, match=message):
            load_spec(path)
    (tmp_path / "broken.toml").write_text("asset = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_spec(tmp_path / "broken.toml")


# ---- readers: every refused case names file, line, column and what was expected ------------------


@pytest.mark.parametrize(
    "text, message, spec",
    [
        ("", r"fleet.csv: empty file; expected a header row", {}),
        ("1,2,3\n4,5,6\n", r"fleet.csv:1: the first row holds numbers \(1, 2, 3, ...\); expected a header", {}),
        ("asset,time,load,load\n", r"fleet.csv:1: header has repeated names \['load'\]", {}),
        ("asset,time,load,temp\na,1,1,2\na,2,1\n", r"fleet.csv:3: 3 fields, expected 4", {}),
        ("asset,time,temp\na,1,2\n", r"fleet.csv: no column \['load'\]; the schema names them, the file has", {}),
        (
            "asset,time,load,temp\na,1,1,2\na,2,1,abc\n",
            r"fleet.csv:3: column 'temp': 'abc' is not a number; expected "
            r"a number or an empty cell \(the column's other cells are numbers\)",
            {},
        ),
        (
            "asset,time,load,temp\na,1,1,2\na,2,1,abc\n",
            r"fleet.csv:3: column 'temp': 'abc' is not a number; expected "
            r"a number or an empty cell$",
            {"sensors": ["temp"]},
        ),
        (
            "asset,time,load,temp\na,1,1,2\na,2,1,inf\n",
            r"fleet.csv:3: column 'temp': inf; expected a finite number",
            {},
        ),
        ("asset,time,load,temp\na,1,1,2\n,2,1,3\n", r"fleet.csv:3: column 'asset' is empty; expected an asset id", {}),
        ("asset,time,load,temp\na,1,1,2\na,,1,3\n", r"fleet.csv:3: time column 'time' is empty", {}),
        (
            "asset,time,load,temp\na,1,1,2\na,2.5,1,3\n",
            r"fleet.csv:3: time column 'time': 2.5; expected a whole cycle",
            {},
        ),
        (
            "asset,time,load,temp\na,2024-01-01 10:00,1,2\n",
            r"fleet.csv:2: time column 'time': '2024-01-01 10:00' is "
            r"not a cycle count; it looks like a timestamp: set resample",
            {},
        ),
        (
            "asset,time,load,temp\na,yesterday,1,2\n",
            r"fleet.csv:2: time column 'time': 'yesterday' is not an ISO 8601 "
            r"timestamp",
            {"resample": "1h"},
        ),
        (
            "asset,time,load,temp\na,2024-01-01T10:00,1,2\na,2024-01-01T11:00Z,1,2\n",
            r"fleet.csv:3: .* mixes "
            r"timestamps with and without a UTC offset",
            {"resample": "1h"},
        ),
        (
            "asset,time,load,temp\na,1,1,2\nb,1,1,2\na,3,1,2\na,2,1,3\n",
            r"fleet.csv:5: asset 'a': time goes back \(after "
            r".*fleet.csv:4\); expected the rows of an asset in time order",
            {},
        ),
        (
            "asset,time,load,temp\na,1,1,2\na,6,1,3\n",
            r"fleet.csv:3: asset 'a': 4 missing time steps before this row "
            r"\(time 1 to 6\); at most max_fill = 3 are filled",
            {},
        ),
        (
            "asset,time,load,temp\na,1,1,2\na,2,1,\na,3,1,\na,4,1,\n",
            r"fleet.csv:3: column 'temp': 3 missing values in a "
            r"row for asset 'a'; at most max_fill = 2 are filled",
            {"max_fill": 2},
        ),
        (
            "asset,time,load,temp\na,1,1,2\nb,1,1,\nb,2,1,\n",
            r"fleet.csv:3: column 'temp': 2 missing values in a row for "
            r"asset 'b'",
            {},
        ),
        (
            "asset,time,load,temp,f\na,1,1,2,0\na,2,1,3,2\n",
            r"fleet.csv:3: column 'f': '2' is not a flag; expected 0/1, true/false or yes/no",
            {"failures": {"column": "f"}},
        ),
        (
            "asset,time,load,temp,f\na,1,1,2,0\na,2,1,3,maybe\n",
            r"fleet.csv:3: column 'f': 'maybe' is not a flag; "
            r"expected 0/1, true/false or yes/no",
            {"failures": {"column": "f"}},
        ),
        ("asset,time,load,temp\na,1,1,2\na,2,1,2\n", r"no sensor column left \(dropped: \['load', 'temp'\]\)", {}),
    ],
)
def test_reader_refuses(tmp_path, text, message, spec):
    refused(tmp_path, text, message, **spec)


def test_no_file_or_folder(tmp_path):
    with pytest.raises(DataError, match=r"no file matches files = 'fleet.csv'"):
        read_fleet(spec_from_dict(BASE), tmp_path)
    with pytest.raises(DataError, match="no such folder"):
        find_spec(tmp_path / "nope")
    with pytest.raises(DataError, match=r"no schema.toml and no C-MAPSS train_<subset>.txt; expected a dataset spec"):
        find_spec(tmp_path)


@pytest.mark.parametrize(
    "events, message",
    [
        ("asset,time\na,3\na,5\n", r"failures.csv:3: asset 'a' fails a second time \(first at .*failures.csv:2\)"),
        ("asset,time\na,0\n", r"failures.csv:2: asset 'a': failure time is before the asset's first row"),
        (
            "asset,time\na,9\n",
            r"failures.csv:2: asset 'a': failure time is 4 steps after its last row \(at most "
            r"max_fill = 3\)",
        ),
        ("asset,time\na,x\n", r"failures.csv:2: time column 'time': 'x' is not a cycle count"),
    ],
)
def test_events_refused(tmp_path, events, message):
    (tmp_path / "failures.csv").write_text(events)
    refused(tmp_path, GOOD, message, failures={"events": "failures.csv"})


def test_events_file_missing(tmp_path):
    refused(tmp_path, GOOD, r"failures.csv: no such events file", failures={"events": "failures.csv"})


# ---- the handling rules ---------------------------------------------------------------------------


def test_good_table_and_censoring_by_events(tmp_path):
    (tmp_path / "failures.csv").write_text("id,when\nb,3\nz,4\n")
    f = fleet_of(tmp_path, GOOD, failures={"events": "failures.csv", "asset": "id", "time": "when"})
    assert f.assets == ["a", "b"] and f.settings == ["load"] == [c for c in f.columns[2:3]]
    assert f.sensors == ["temp", "vib"]
    assert f.failed.tolist() == [False, True]  # a has no event: censored, never labelled as failed
    assert f.table[f.table[:, 0] == 1, 1].tolist() == [1, 2, 3]  # b's rows after its failure dropped
    assert f.card["rows_dropped"] == [{"rows": 2, "why": "after the asset's failure"}]
    assert f.card["failures"]["events_for_unknown_assets"] == ["z"]


def test_constant_setting_dropped_and_recorded(tmp_path):
    text = "asset,time,load,temp\na,1,1,5\na,2,1,6\n"
    f = fleet_of(tmp_path, text)
    assert {"column": "load", "why": "constant (1 in every row)"} in f.card["columns_dropped"]
    assert f.settings == [] and f.sensors == ["temp"]
    kept = fleet_of(tmp_path, text, drop_constant=False)
    assert kept.settings == ["load"] and kept.table.shape == (2, 4)


def test_duplicates_keep_last_and_assets_in_first_appearance_order(tmp_path):
    text = "asset,time,load,temp\nz,1,1,5\nb,1,2,7\nz,2,2,6\nz,2,3,9\nb,2,3,8\n"
    f = fleet_of(tmp_path, text)
    assert f.assets == ["z", "b"]
    np.testing.assert_array_equal(f.table, [[0, 1, 1, 5], [0, 2, 3, 9], [1, 1, 2, 7], [1, 2, 3, 8]])
    assert f.card["rows_dropped"] == [{"rows": 1, "why": "same asset and time as the next row: last kept"}]


def test_fill_gaps_and_missing_within_max_fill(tmp_path):
    text = 'asset,time,load,temp,"note, text"\na,1,1,,"x, y"\na,2,2,12,x\na,5,3,NA,x\na,6,4,16,x\n'
    f = fleet_of(tmp_path, text, max_fill=3)
    # t=1 temp back-filled from the first value; t=3,4 inserted (gap of 2), forward-filled; t=5 NA filled
    np.testing.assert_array_equal(
        f.table[:, 1:], [[1, 1, 12], [2, 2, 12], [3, 2, 12], [4, 2, 12], [5, 3, 12], [6, 4, 16]]
    )
    assert f.card["gaps"] == {"steps_inserted": 2, "long_gaps_kept": 0}
    assert f.card["filled"] == {"load": 2, "temp": 4}
    assert f.card["missing"]["temp"] == {"cells": 2, "share": 0.5}
    assert {"column": "note, text", "why": "sensors = auto: text column"} in f.card["columns_dropped"]


def test_long_gap_kept_when_asked(tmp_path):
    f = fleet_of(tmp_path, "asset,time,load,temp\na,1,1,2\na,9,2,3\n", long_gaps="keep")
    assert f.table[:, 1].tolist() == [1, 9] and f.card["gaps"] == {"steps_inserted": 0, "long_gaps_kept": 1}


def test_resample_timestamps(tmp_path):
    text = (
        "asset,time,load,temp,mode\n"
        "a,2024-03-01T10:05:00,1,10,low\na,2024-03-01 10:45:00,3,,high\na,2024-03-01 10:50:00,,,\n"
        "a,2024-03-01T11:59:59,5,20,low\na,2024-03-01T13:00:00Z,5,30,low\n"
    )
    with pytest.raises(DataError, match="mixes timestamps"):
        fleet_of(tmp_path, text, resample="1h", regime="mode")
    f = fleet_of(tmp_path, text.replace("13:00:00Z", "13:00:00"), resample="1h", regime="mode")
    # mean per hour; 12:00-13:00 has no reading: inserted and filled
    np.testing.assert_array_equal(f.table[:, 1:], [[1, 2, 10], [2, 5, 20], [3, 5, 20], [4, 5, 30]])
    assert f.regime.tolist() == ["high", "low", "low", "low"]  # last label of the hour (an empty cell is no label)
    assert f.card["time"]["asset_start"] == {"a": "2024-03-01T10:00:00+00:00"}
    assert f.card["rows_dropped"] == [{"rows": 2, "why": "averaged with other rows of the same time step"}]


def test_failed_column(tmp_path):
    text = "asset,time,load,temp,broke\na,1,1,2,no\na,2,2,3,yes\na,3,2,5,\nb,1,1,2,0\nb,2,1,4,0\n"
    f = fleet_of(tmp_path, text, failures={"column": "broke"})
    assert f.failed.tolist() == [True, False] and f.table[:, 1].tolist() == [1, 2, 1, 2]
    assert "broke" not in f.sensors and f.card["failures"] == {"source": "column", "failed": 1, "censored": 1}
    test = read_test_fleet(spec_from_dict({**BASE, "failures": {"column": "broke"}}), tmp_path / "fleet.csv")
    assert not test.failed.any() and test.sensors == ["temp"] and len(test.table) == 5  # nothing cut
    none = fleet_of(tmp_path, GOOD, failures="none")
    assert not none.failed.any()


def test_several_files_and_quoted_fields(tmp_path):
    (tmp_path / "pump-1.csv").write_text('asset,time,load,temp\n"p, 1",1,1,2\n"p, 1",2,2,3\n')
    (tmp_path / "pump-2.csv").write_text("asset,time,load,temp\np2,1,2,4\np2,2,1,5\n")
    f = read_fleet(spec_from_dict({**BASE, "files": "pump-*.csv"}), tmp_path)
    assert f.assets == ["p, 1", "p2"] and len(f.card["source"]["files"]) == 2
    (tmp_path / "pump-2.csv").write_text("asset,time,load,temp\np2,1,2,4\np2,0,1,5\n")
    with pytest.raises(DataError, match=r"pump-2.csv:3: asset 'p2': time goes back"):
        read_fleet(spec_from_dict({**BASE, "files": "pump-*.csv"}), tmp_path)


def test_parquet_round_trip(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq
    from datetime import datetime, timezone

    stamps = [datetime(2024, 1, 1, h, 30, tzinfo=timezone.utc) for h in (0, 1, 2, 4)] * 2
    cols = {
        "asset": ["a"] * 4 + ["b"] * 4,
        "time": stamps,
        "load": [1.0, 2.0, 3.0, 4.0] * 2,
        "temp": [10, None, 12, 13, 20, 21, 22, 23],
        "unit_no": [7] * 8,
        "regime": [1, 2, 2, 3] * 2,
    }
    pq.write_table(pa.table({**cols, "time": pa.array(stamps, pa.timestamp("ms", "UTC"))}), tmp_path / "fleet.parquet")
    (tmp_path / "fleet.csv").write_text(
        "asset,time,load,temp,unit_no,regime\n"
        + "".join(
            f"{a},{t.isoformat()},{lo},{'' if v is None else v},{u},{r}\n" for a, t, lo, v, u, r in zip(*cols.values())
        )
    )
    spec = {**BASE, "resample": "1h", "drop_constant": False, "regime": "regime"}
    f, g = (
        read_fleet(spec_from_dict({**spec, "files": "fleet.parquet"}), tmp_path),
        read_fleet(spec_from_dict(spec), tmp_path),
    )
    np.testing.assert_array_equal(f.table, g.table)
    assert f.regime.tolist() == g.regime.tolist() == ["1", "2", "2", "2", "3"] * 2
    assert f.sensors == ["temp", "unit_no"] and f.table[f.table[:, 0] == 0, 1].tolist() == [1, 2, 3, 4, 5]
    (tmp_path / "bad.parquet").write_text("not parquet")
    with pytest.raises(DataError, match=r"bad.parquet: not a readable Parquet file"):
        read_fleet(spec_from_dict({**spec, "files": "bad.parquet"}), tmp_path)


# ---- C-MAPSS preset -------------------------------------------------------------------------------


def _same_as_load_table(fleet, table):
    np.testing.assert_array_equal(fleet.table[:, 1:], table[:, 1:])
    np.testing.assert_array_equal([float(fleet.assets[int(i)]) for i in fleet.table[:, 0]], table[:, 0])
    assert fleet.columns[2:] == list(SPEC_CMAPSS.settings) + list(SPEC_CMAPSS.sensors) and fleet.failed.all()


def test_cmapss_preset_simulated(sim_dir):
    _same_as_load_table(
        read_fleet(find_spec(sim_dir, subset="SIM"), sim_dir), cmapss.load_table(sim_dir / "train_SIM.txt")
    )


def test_cmapss_preset_fd001(cmapss_dir):
    fleet = read_fleet(find_spec(cmapss_dir), cmapss_dir)
    _same_as_load_table(fleet, cmapss.load_table(cmapss_dir / "train_FD001.txt"))
    assert fleet.table.shape == (20631, 26) and len(fleet.assets) == 100 and fleet.card["source"]["format"] == "cmapss"
    test = read_test_fleet(find_spec(cmapss_dir), cmapss_dir / "test_FD001.txt")
    assert len(test.assets) == 100 and not test.failed.any()  # test units stop before failure: censored


@pytest.mark.parametrize("subset, rows, units", [("FD002", 17049, 85), ("FD004", 17111, 68)])
def test_cmapss_preset_six_conditions(subset, rows, units):
    folder = data_dir() / "cmapss" / subset
    if not (folder / f"train_{subset}.txt").is_file():
        pytest.skip(f"{subset} not found at {folder}")
    fleet = read_fleet(find_spec(folder), folder)
    _same_as_load_table(fleet, cmapss.load_table(folder / f"train_{subset}.txt"))
    assert fleet.table.shape == (rows, 26) and len(fleet.assets) == units
    # six operating conditions: the settings rounded to one decimal take six values
    assert len({tuple(r) for r in np.round(fleet.table[:, 2:5], 0)}) == 6


# ---- the simulated pump fleet and its data card -------------------------------------------------------


@pytest.fixture(scope="module")
def pumps(tmp_path_factory):
    from prognos.pipeline.data.fleet_sim import simulate_assets, write_fleet

    out = write_fleet(tmp_path_factory.mktemp("pumps"), n_assets=12, seed=4, n_test=3)
    return out, simulate_assets(12, seed=4), read_fleet(find_spec(out), out)


def _ffill(x: np.ndarray) -> np.ndarray:
    """Forward fill down the rows (back fill at the start), the reader's rule for short runs."""
    x = x.copy()
    for j in range(x.shape[1]):
        ok = np.flatnonzero(~np.isnan(x[:, j]))
        idx = np.maximum.accumulate(np.where(np.isnan(x[:, j]), 0, np.arange(len(x))))
        x[:, j] = x[np.where(np.isnan(x[:, j]) & (np.arange(len(x)) < ok[0]), ok[0], idx), j]
    return x


def test_simulated_fleet_round_trips(pumps):
    from prognos.pipeline.data.fleet_sim import SENSORS, SETTINGS

    out, assets, f = pumps
    assert f.assets == [a.id for a in assets] and f.failed.tolist() == [a.failed for a in assets]
    assert 0 < f.failed.sum() < len(assets)  # both failed and censored units
    assert f.settings == list(SETTINGS) and f.sensors == list(SENSORS)
    for k, a in enumerate(assets):
        rows = f.table[f.table[:, 0] == k]
        assert rows[:, 1].tolist() == list(range(1, len(a.minute) + 1))  # hourly steps, gaps re-inserted
        truth = np.column_stack([a.settings, a.sensors])
        truth[a.gap] = np.nan
        truth[:, 3:][a.blank] = np.nan
        np.testing.assert_allclose(rows[:, 2:], _ffill(truth), rtol=1e-12)
    assert f.card["gaps"]["steps_inserted"] == sum(a.gap.sum() for a in assets) > 0
    assert (out / "test_fleet.csv").is_file() and len((out / "test_rul.csv").read_text().splitlines()) == 4


def test_data_card_of_simulated_fleet(pumps, tmp_path):
    out, assets, f = pumps
    card = data_card(f, regimes=np.concatenate([a.regime for a in assets]), regime_source="simulator")
    assert card["assets"] == {
        "count": 12,
        "failed": int(f.failed.sum()),
        "censored": int((~f.failed).sum()),
        "rows_min": min(len(a.minute) for a in assets),
        "rows_median": float(np.median([len(a.minute) for a in assets])),
        "rows_max": max(len(a.minute) for a in assets),
    }
    assert [a["status"] for a in card["per_asset"]] == ["failed" if a.failed else "censored" for a in assets]
    assert card["regimes"]["count"] == 6 and card["regimes"]["source"] == "simulator"
    dropped = {d["column"]: d["why"] for d in card["dropped"]["columns"]}
    assert dropped == {
        "site": "sensors = auto: text column",
        "mode": "sensors = auto: text column",
        "firmware": "constant (3 in every row)",
    }
    col = {c["column"]: c for c in card["columns"]}
    rows_read = sum((~a.gap).sum() for a in assets)
    assert col["oil_temp_c"]["missing_share"] == sum(a.blank[~a.gap, 1].sum() for a in assets) / rows_read
    # the regime swamps the wear: the within-regime trend of a wearing sensor is far stronger than the raw one
    assert col["bearing_temp_c"]["trend_within_regime"] > 0.5 > abs(col["bearing_temp_c"]["trend"])
    assert abs(col["noise_db"]["trend_within_regime"]) < 0.1  # no wear in that sensor
    assert "12 assets" in summary(card) and "regimes: 6 (simulator)" in summary(card)
    assert json.loads(write_card(card, tmp_path).read_text())["rows"] == len(f.table)


def test_declared_regime_column(pumps):
    from dataclasses import replace

    from prognos.pipeline.data.fleet_sim import REGIME_NAMES

    out, assets, _ = pumps
    f = read_fleet(replace(find_spec(out), regime="mode"), out)
    truth = np.asarray(REGIME_NAMES)[np.concatenate([a.regime for a in assets])]
    filled = np.concatenate([a.gap for a in assets])  # a missing hour takes the previous hour's label
    assert (f.regime[~filled] == truth[~filled]).all() and f.card["regime_labels"] == sorted(REGIME_NAMES)
    card = data_card(f)
    assert card["regimes"]["count"] == 6 and card["regimes"]["source"] == "declared column 'mode'"


def test_spearman_equals_scipy():
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 5, 300).astype(float), rng.normal(size=300)
    assert spearman(x, y) == pytest.approx(stats.spearmanr(x, y)[0], abs=1e-12)
    assert spearman(np.ones(5), np.arange(5.0)) is None


def test_report_shows_the_data_card(pumps, tmp_path):
    from prognos.pipeline.report.html import build_report

    assert "Data card" not in build_report(tmp_path).read_text()  # no data_card.json: no section
    write_card(data_card(pumps[2]), tmp_path)
    page = build_report(tmp_path).read_text()
    assert '<section id="data-card"><h2>Data card</h2>' in page
    assert re.search(r"<td[^>]*>bearing_temp_c</td><td[^>]*>sensor</td>", page)


def test_cli_data_card_and_refusal(pumps, tmp_path, capsys):
    from prognos.pipeline.cli import main

    assert main(["data-card", "--data-dir", str(pumps[0]), "--out", str(tmp_path)]) == 0
    assert (tmp_path / "data_card.json").is_file() and "12 assets" in capsys.readouterr().out
    (tmp_path / "s.toml").write_text("asset = 3\n")
    assert main(["data-card", "--data-dir", str(pumps[0]), "--schema", str(tmp_path / "s.toml")]) == 2
    assert "s.toml: asset = 3 (int); expected a string" in capsys.readouterr().err

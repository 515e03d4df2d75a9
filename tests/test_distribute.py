"""Training at scale, tested on the CPU: lazy tf.data windows, strategies, mixed precision, multi-worker.

MirroredStrategy runs on the CPU split into two logical devices (possible only before TensorFlow
initializes its devices, hence a fresh interpreter); multi-worker runs two local processes wired by
TF_CONFIG through the `pipeline.multiworker` launcher, which is also what `make train-multiworker` runs.
"""

import dataclasses
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from prognos.edge_runtime.errors import ConfigError, DataError
from prognos.pipeline.data import cmapss
from prognos.pipeline.scale import distribute
from prognos.pipeline.config import DataConfig, RunConfig
from prognos.pipeline.data.dataset import fit_preprocessor, rows_of, split_units, training_windows, window_index
from tests.conftest import ROOT

TINY = {"units": [8], "dense": 8}


@pytest.fixture(scope="module")
def sim_table(sim_dir):
    return cmapss.load_table(sim_dir / "train_SIM.txt")


@pytest.fixture(scope="module", params=[(0.0, None), (0.3, 10)], ids=["plain", "smoothed-padded"])
def index_and_windows(sim_table, request):
    smoothing, min_cycles = request.param
    train_units, _ = split_units(sim_table, 0.25, seed=0)
    rows = rows_of(sim_table, train_units)
    pre = fit_preprocessor(rows, DataConfig(smoothing=smoothing))
    shuffled = rows[np.random.default_rng(0).permutation(len(rows))]  # row order must not matter
    index = window_index(shuffled[np.argsort(shuffled[:, 1], kind="stable")], pre, min_cycles)
    return index, training_windows(rows, pre, min_cycles)


def python(*args, env=None, timeout=240):
    """Run `python *args` from the worktree with it first on the path."""
    full_env = dict(os.environ, PYTHONPATH=str(ROOT), **(env or {}))
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, cwd=ROOT, env=full_env, timeout=timeout
    )


def tiny_config(tmp_path, sim_dir, epochs: int, **train) -> str:
    path = tmp_path / "tiny.toml"
    extra = "".join(f"{k} = {json.dumps(v)}\n" for k, v in train.items())
    path.write_text(
        f'[data]\ndata_dir = "{sim_dir}"\nval_fraction = 0.25\n'
        f'[model]\nname = "lstm"\nhparams = {{ units = [8], dense = 8 }}\n'
        f"[train]\nepochs = {epochs}\nbatch_size = 64\npatience = 20\n{extra}"
    )
    return str(path)


def weights(path):
    from prognos.models.kerasapi import keras

    return keras.models.load_model(path, safe_mode=True).get_weights()


# ---- lazy windows ---------------------------------------------------------------------------------


def test_window_index_equals_training_windows(index_and_windows):
    index, windows = index_and_windows
    assert len(index) == len(windows.x) and index.window_shape == windows.x.shape[1:]
    for field in ("x", "y", "unit", "cycle"):
        a, b = getattr(index, field), getattr(windows, field)
        assert a.dtype == b.dtype and np.array_equal(a, b), field
    # 4·F bytes per row + 8 per window, against 4·F·window per window materialized
    assert index.z.nbytes + index.ends.nbytes < windows.x.nbytes / 10


def test_tf_dataset_yields_exactly_training_windows(index_and_windows):
    from prognos.pipeline.scale import tfdata

    index, windows = index_and_windows
    batches = list(tfdata.window_dataset(index, batch_size=100).as_numpy_iterator())
    assert [len(y) for _, y in batches[:-1]] == [100] * (len(batches) - 1)
    x = np.concatenate([b[0] for b in batches])
    y = np.concatenate([b[1] for b in batches])
    assert x.dtype == windows.x.dtype and np.array_equal(x, windows.x)
    assert np.array_equal(y, windows.y)
    assert np.allclose(
        tfdata.predict(_mean_model(index.window_shape), index, 64)[:, 0], windows.x.mean((1, 2)), atol=1e-5
    )


def _mean_model(shape):
    from prognos.models.kerasapi import keras

    inputs = keras.Input(shape)
    return keras.Model(inputs, keras.layers.GlobalAveragePooling1D()(keras.layers.Reshape((-1, 1))(inputs)))


def test_training_stream_shuffles_each_epoch_and_shards_disjointly(index_and_windows):
    from prognos.pipeline.scale import tfdata

    index, _ = index_and_windows
    rows = len(index.z)  # feature 0 := row number, so every window names the rows it was cut from
    tagged = dataclasses.replace(index, z=np.repeat(np.arange(rows, dtype=np.float32)[:, None], 2, axis=1))
    batch, epochs = 32, 2
    per_epoch = [(len(index) // 2 + (1 - i) * (len(index) % 2)) // batch for i in range(2)]
    seen = {}
    for shard in (0, 1):
        stream = tfdata.training_stream(tagged, batch, seed=5, shard=(shard, 2))
        got = list(stream.take(per_epoch[shard] * epochs).as_numpy_iterator())
        x = np.concatenate([b[0] for b in got])
        y = np.concatenate([b[1] for b in got])
        assert x.shape[1:] == (index.window, 2) and all(len(b[1]) == batch for b in got)
        assert (np.diff(x[:, :, 0], axis=1) == 1).all()  # consecutive rows of one unit
        ends = x[:, -1, 0].astype(np.int64)
        assert np.isin(ends, index.ends).all() and np.array_equal(y, index.rul[ends])
        seen[shard] = ends.reshape(epochs, -1)
    for epoch in range(epochs):
        a, b = seen[0][epoch], seen[1][epoch]
        assert len(set(a)) == len(a) and len(set(b)) == len(b) and not set(a) & set(b)
        assert len(index) - len(a) - len(b) < 2 * batch  # each shard drops < 1 batch per epoch
    assert not np.array_equal(seen[0][0], seen[0][1])  # a fresh permutation every epoch
    again = tfdata.training_stream(tagged, batch, seed=5, shard=(0, 2)).take(per_epoch[0])
    assert np.array_equal(np.concatenate([b[0][:, -1, 0] for b in again.as_numpy_iterator()]), seen[0][0])


def test_batch_larger_than_a_shard_is_a_clear_error(index_and_windows):
    from prognos.pipeline.scale import tfdata

    index, _ = index_and_windows
    with pytest.raises(DataError, match="make no full batch of .*lower train.batch_size"):
        tfdata.training_stream(index, len(index) // 2 + 1, seed=0, shard=(1, 2))


def test_input_noise_is_seeded_augmentation_of_the_same_batches(index_and_windows):
    from prognos.pipeline.scale import tfdata

    index, _ = index_and_windows
    clean = list(tfdata.training_stream(index, 64, seed=3).take(2))
    noisy = list(tfdata.training_stream(index, 64, seed=3, noise=0.2).take(2))
    again = list(tfdata.training_stream(index, 64, seed=3, noise=0.2).take(2))
    for (x, y), (xn, yn), (xa, _) in zip(clean, noisy, again):
        np.testing.assert_array_equal(yn, y)  # labels untouched, same windows in the same order
        np.testing.assert_array_equal(xa, xn)  # reproducible
        assert np.std(xn - x) == pytest.approx(0.2, rel=0.1)
    assert not np.allclose(noisy[0][0] - clean[0][0], noisy[1][0] - clean[1][0])  # fresh noise per batch


# ---- plans: scaling, strategy choice, precision ---------------------------------------------------


def test_batch_and_learning_rate_scaling_rules():
    assert distribute.scaled(256, 1e-3, 4, "linear") == (1024, 4e-3)
    assert distribute.scaled(256, 1e-3, 4, "sqrt") == (1024, 2e-3)
    assert distribute.scaled(256, 1e-3, 4, "none") == (1024, 1e-3)
    assert distribute.scaled(256, 1e-3, 1, "linear") == (256, 1e-3)
    with pytest.raises(ConfigError, match="expected one of linear, sqrt, none"):
        distribute.scaled(256, 1e-3, 2, "cubic")


def test_cosine_schedule_spans_the_configured_steps():
    from prognos.models.kerasapi import keras
    from prognos.pipeline.rul.train import make_optimizer

    config = make_optimizer("adam", 1e-3, "cosine", total_steps=100).get_config()["learning_rate"]
    lr = keras.optimizers.schedules.deserialize(config)
    assert [round(float(lr(s)), 7) for s in (0, 50, 100)] == [1e-3, 5e-4, 0.0]
    assert make_optimizer("adam", 1e-3).get_config()["learning_rate"] == pytest.approx(1e-3)
    with pytest.raises(ConfigError, match="lr_schedule 'step'"):
        make_optimizer("adam", 1e-3, "step", 100)


def test_strategy_choice_and_worker_roles(monkeypatch, tmp_path):
    with pytest.raises(ConfigError, match="expected one of auto, default, mirrored, multiworker"):
        distribute.resolve_name("horovod")
    with pytest.raises(ConfigError, match="expected one of auto, float32"):
        distribute.resolve_precision("float8")
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert distribute.resolve_name("auto") == "default"  # no GPU on the test machines
    assert distribute.resolve_precision("auto") == "float32"
    assert distribute.is_chief() and distribute.artifact_dir(tmp_path) == tmp_path
    cluster = {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": {"type": "worker", "index": 1}}))
    assert distribute.resolve_name("auto") == "multiworker" and not distribute.is_chief()
    assert distribute.artifact_dir(tmp_path) == tmp_path / "workers" / "worker-1"
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(ConfigError, match="TF_CONFIG is not valid JSON"):
        distribute.task()


def test_mixed_precision_trains_in_float16_and_returns_a_float32_model(sim_dir, tmp_path):
    from prognos.models.kerasapi import keras
    from prognos.pipeline.rul.train import fit, prepare

    cfg = RunConfig()
    cfg.data.data_dir, cfg.data.val_fraction = str(sim_dir), 0.25
    cfg.train.epochs, cfg.train.precision, cfg.train.strategy = 1, "mixed_float16", "default"
    cfg.model.hparams = TINY
    pre, train, val, _ = prepare(cfg, tmp_path)
    plan = distribute.plan(cfg.train)
    with plan.scope():
        from prognos.models import create_model

        probe = create_model("lstm", train.window_shape, **TINY)
    assert probe.get_layer("lstm_0").compute_dtype == "float16" and probe.output.dtype == "float32"
    assert keras.mixed_precision.global_policy().name == "float32"  # restored after the build
    model, history = fit(cfg, pre, train, val)
    assert history["epoch"] == [1] and np.isfinite(history["val_loss"][0])
    assert {layer.dtype_policy.name for layer in model.layers} == {"float32"}
    assert model.output.dtype == "float32" and model.optimizer is not None


@pytest.mark.slow
def test_xla_jit_compiled_training(sim_dir, tmp_path):
    from prognos.pipeline.rul.train import fit, prepare

    cfg = RunConfig()
    cfg.data.data_dir, cfg.data.val_fraction = str(sim_dir), 0.25
    cfg.train.epochs, cfg.train.jit_compile, cfg.train.strategy = 2, True, "default"
    cfg.model.hparams = TINY
    pre, train, val, _ = prepare(cfg, tmp_path)
    model, history = fit(cfg, pre, train, val)
    assert model.jit_compile and history["epoch"] == [1, 2]
    assert history["loss"][1] < history["loss"][0] and np.isfinite(history["val_loss"]).all()


# ---- strategies end to end ------------------------------------------------------------------------

MIRRORED = """
import json, sys
from prognos.models.kerasapi import tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from prognos.pipeline.config import RunConfig
from prognos.pipeline.rul.train import train_run
print("METRICS", json.dumps(train_run(RunConfig.load(sys.argv[1]), sys.argv[2])))
"""


def test_mirrored_strategy_on_two_logical_cpus(sim_dir, tmp_path):
    run = tmp_path / "run"
    r = python("-c", MIRRORED, tiny_config(tmp_path, sim_dir, 2, strategy="mirrored"), str(run))
    assert r.returncode == 0, r.stderr[-3000:]
    metrics = json.loads(r.stdout.split("METRICS", 1)[1])
    assert metrics["distribute"] == {
        "strategy": "mirrored",
        "replicas": 2,
        "workers": 1,
        "global_batch": 128,
        "learning_rate": 0.004,
        "precision": "float32",
        "jit_compile": False,
    }
    assert metrics["epochs"] == 2 and metrics["resumed_from_epoch"] == 0 and metrics["val"]["rmse"] < 60
    assert (run / "history.csv").read_text().splitlines()[1:] and not (run / "backup").exists()
    assert len(weights(run / "model.keras")) == 7


def launcher(*args):
    return [sys.executable, "-m", "prognos.pipeline.scale.multiworker", *args]


def _two_workers_agree(run, stdout: str, epochs: int) -> None:
    """Both workers finished the multi-worker run with the same metrics and the same weights."""
    assert "[multiworker] all 2 workers finished" in stdout
    chief = json.loads((run / "metrics.json").read_text())
    other = json.loads((run / "workers" / "worker-1" / "metrics.json").read_text())
    assert chief["distribute"]["strategy"] == "multiworker" and chief["distribute"]["replicas"] == 2
    assert chief["distribute"]["workers"] == 2 and chief["distribute"]["global_batch"] == 128
    assert chief["val"] == other["val"] and chief["epochs"] == epochs
    w0, w1 = weights(run / "model.keras"), weights(run / "workers" / "worker-1" / "model.keras")
    assert len(w0) == 7 and all(np.array_equal(a, b) for a, b in zip(w0, w1))


@pytest.mark.slow  # make test: test_killed_worker_resumes_from_backup checks the same (_two_workers_agree) after a restart
def test_two_workers_finish_with_identical_weights(sim_dir, tmp_path):
    run = tmp_path / "run"
    r = subprocess.run(
        launcher(
            "--workers",
            "2",
            "--restarts",
            "0",
            "--",
            "train",
            "--run",
            str(run),
            "--config",
            tiny_config(tmp_path, sim_dir, 2),
        ),
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=240,
    )
    assert r.returncode == 0, r.stdout[-4000:]
    _two_workers_agree(run, r.stdout, 2)


def _lines(proc, out: queue.Queue):
    for line in proc.stdout:
        out.put(line)
    out.put(None)


def test_killed_worker_resumes_from_backup(sim_dir, tmp_path):
    """SIGKILL worker 1 during epoch 3 of 4: the launcher restarts the cluster, which resumes from the
    BackupAndRestore checkpoint of a finished epoch instead of epoch 1, and both workers finish."""
    run, epochs = tmp_path / "run", 4
    proc = subprocess.Popen(
        launcher(
            "--workers",
            "2",
            "--restarts",
            "1",
            "--",
            "train",
            "--run",
            str(run),
            "--config",
            tiny_config(tmp_path, sim_dir, epochs),
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=ROOT,
    )
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=_lines, args=(proc, lines), daemon=True).start()
    log, pid, killed, deadline = [], None, False, time.time() + 400
    try:
        while (line := lines.get(timeout=max(1, deadline - time.time()))) is not None:
            log.append(line)
            if line.startswith("[multiworker] worker 1 pid") and pid is None:
                pid = int(line.split()[4])
            if not killed and line.startswith(f"[worker 1] Epoch 3/{epochs}"):
                os.kill(pid, signal.SIGKILL)
                killed = True
        assert proc.wait(30) == 0, "".join(log[-80:])
    finally:
        if proc.poll() is None:
            proc.terminate()
    text = "".join(log)
    assert killed and "worker 1 exited with code -9" in text and "restarting the cluster" in text
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["epochs"] == epochs and 1 <= metrics["resumed_from_epoch"] < epochs
    assert f"[worker 0] Epoch {metrics['resumed_from_epoch'] + 1}/{epochs}" in text.split("restarting")[1]
    history = (run / "history.csv").read_text().splitlines()[1:]
    assert [int(row.split(",")[0]) for row in history] == list(range(metrics["resumed_from_epoch"] + 1, epochs + 1))
    _two_workers_agree(run, text, epochs)  # also what test_two_workers_finish_with_identical_weights (slow) checks


# ---- commands -------------------------------------------------------------------------------------


def test_scale_command_reports_windows_and_memory():
    from prognos.pipeline.data.simulate import simulate_table

    r = python("-m", "prognos.pipeline.cli", "scale", "--units", "40", "--batch", "128", "--epochs", "2")
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout)
    table = simulate_table(40, 0)
    lives = np.unique(table[:, 0], return_counts=True)[1]
    assert out["rows"] == len(table) and out["windows"] == int((lives - 29).sum())
    assert len(out["windows_per_s_each_epoch"]) == 2 and out["windows_per_s"] > 0
    assert out["materialized_windows_mb"] > 10 * out["raw_arrays_mb"]  # memory itself: `make scale` measures it


def test_cli_errors_for_strategy_and_tf_config(tmp_path):
    r = python("-m", "prognos.pipeline.cli", "train", "--strategy", "horovod", "--run", str(tmp_path))
    assert r.returncode == 2 and "invalid choice: 'horovod'" in r.stderr
    r = python("-m", "prognos.pipeline.cli", "train", "--run", str(tmp_path), env={"TF_CONFIG": "{oops"})
    assert r.returncode == 2 and "TF_CONFIG is not valid JSON" in r.stderr and "Traceback" not in r.stderr

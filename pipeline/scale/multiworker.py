"""Try multi-worker training on one machine: N local `prognos` workers on 127.0.0.1, wired by TF_CONFIG.

    python -m pipeline.multiworker --workers 2 [--restarts 1] -- train --run artifacts/mw --epochs 5

Picks N free ports, starts each worker with its TF_CONFIG task (and `--strategy multiworker` unless
the arguments name a strategy) and its share of the CPU threads, prefixes every output line with
`[worker i]`, and waits for all. When a worker dies, it stops the others and restarts the whole
cluster on fresh ports, up to --restarts times: the workers find the checkpoint that keras
BackupAndRestore wrote after the last finished epoch in <run>/backup/ and resume from there. (On a
real cluster a scheduler, e.g. Kubernetes or Slurm, plays this role and TF_CONFIG names real hosts.)
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def log(msg: str):
    print(f"[multiworker] {msg}", flush=True)


def free_ports(n: int) -> list[int]:
    """N distinct ports free on 127.0.0.1 now (held open together so they differ)."""
    with ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(n)]
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]


def tf_config(ports: list[int], index: int) -> str:
    return json.dumps(
        {"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]}, "task": {"type": "worker", "index": index}}
    )


def worker_env(ports: list[int], index: int) -> dict:
    env = dict(os.environ, TF_CONFIG=tf_config(ports, index), PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    threads = str(max(1, (os.cpu_count() or 1) // len(ports)))  # N workers share this machine's cores
    env.setdefault("TF_NUM_INTRAOP_THREADS", threads)
    env.setdefault("TF_NUM_INTEROP_THREADS", threads)
    return env


def _pump(proc: subprocess.Popen, prefix: str):
    for line in proc.stdout:
        print(f"{prefix} {line.rstrip()}", flush=True)


def start(n: int, prognos_args: list[str]) -> tuple[list[subprocess.Popen], list[threading.Thread]]:
    ports = free_ports(n)
    cmd = [sys.executable, "-m", "prognos.pipeline.cli", *prognos_args]
    if not any(a == "--strategy" or a.startswith("--strategy=") for a in prognos_args):
        cmd += ["--strategy", "multiworker"]
    procs, pumps = [], []
    for i in range(n):
        p = subprocess.Popen(
            cmd, env=worker_env(ports, i), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        pumps.append(threading.Thread(target=_pump, args=(p, f"[worker {i}]"), daemon=True))
        pumps[-1].start()
        log(f"worker {i} pid {p.pid} port {ports[i]}")
        procs.append(p)
    return procs, pumps


def stop(procs: list[subprocess.Popen], grace: float = 10.0):
    for p in procs:
        if p.poll() is None:
            p.terminate()
    deadline = time.time() + grace
    for p in procs:
        try:
            p.wait(max(0.1, deadline - time.time()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def wait(procs: list[subprocess.Popen]) -> int | None:
    """None when all workers exited 0; else the index of the first worker seen failing."""
    while True:
        codes = [p.poll() for p in procs]
        failed = [i for i, c in enumerate(codes) if c not in (None, 0)]
        if failed:
            return failed[0]
        if all(c == 0 for c in codes):
            return None
        time.sleep(0.2)


def run(n: int, prognos_args: list[str], restarts: int = 0) -> int:
    t0 = time.time()
    for attempt in range(restarts + 1):
        log(f"attempt {attempt + 1}/{restarts + 1}: starting {n} workers: prognos {' '.join(prognos_args)}")
        procs, pumps = start(n, prognos_args)
        try:
            failed = wait(procs)
        finally:
            stop(procs)
            for t in pumps:
                t.join(5)
        if failed is None:
            log(f"all {n} workers finished in {time.time() - t0:.0f} s")
            return 0
        log(f"worker {failed} exited with code {procs[failed].returncode}; stopped the others")
        if attempt < restarts:
            log("restarting the cluster; workers resume from the last epoch's backup")
    return 1


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m pipeline.multiworker", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--workers", type=int, default=2, help="local worker processes (default 2)")
    p.add_argument("--restarts", type=int, default=1, help="cluster restarts after a worker dies (default 1)")
    p.add_argument("prognos_args", nargs=argparse.REMAINDER, help="-- then a prognos command, e.g. train --run DIR")
    args = p.parse_args(argv)
    rest = args.prognos_args[1:] if args.prognos_args[:1] == ["--"] else args.prognos_args
    if args.workers < 1 or not rest:
        p.error("need --workers >= 1 and a prognos command after --, e.g. -- train --run artifacts/mw")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that `finally` stops the workers
    return run(args.workers, rest, args.restarts)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)

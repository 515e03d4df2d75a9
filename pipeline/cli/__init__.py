"""`prognos`: simulate, train, compress, export, bench and evaluate predictive-maintenance models.

The main job on the embedded default (a simulated turbofan fleet, no download): `prognos demo`.
Real NASA C-MAPSS data: `--data-dir DIR` with train_FD001.txt (and test_FD001.txt) in it.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from prognos.edge_runtime.cli import PATH_ERRORS, path_message
from prognos.edge_runtime.errors import PrognosError

# One module of this package per domain; each has `register(subparsers)`, and every parser it adds sets
# `func` (set_defaults). Imports stay inside the commands, so `--help` never imports TensorFlow.
DOMAINS: tuple[str, ...] = (
    "demo",
    "training",
    "rul",
    "compress",
    "mcu",
    "vibration",
    "vibration_service",
    "scale",
    "data",
    "sign",
    "docs",
)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="prognos", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--verbose", action="store_true", help="also show TensorFlow's native start-up log lines")
    sub = p.add_subparsers(dest="command", required=True)
    for name in DOMAINS:
        importlib.import_module(f"{__name__}.{name}").register(sub)
    return p


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    if args.verbose:
        os.environ["PROGNOS_VERBOSE"] = "1"
    try:
        args.func(args)
    except PrognosError as e:
        print(f"prognos: error: {e}", file=sys.stderr)
        return 2
    except PATH_ERRORS as e:  # a path the user named that is missing or not readable/writable
        print(f"prognos: error: {path_message(e)}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Training at scale: stream a simulated fleet through tf.data."""

from __future__ import annotations

import json

from prognos.edge_runtime.cli import count


def register(sub) -> None:
    sc = sub.add_parser("scale", help="stream a simulated fleet through the tf.data pipeline: windows/s, peak RSS")
    sc.add_argument("--units", type=count, default=10000, help="simulated engines (default 10000)")
    sc.add_argument("--batch", type=count, default=1024, help="windows per batch (default 1024)")
    sc.add_argument("--epochs", type=count, default=3, help="passes over the windows (default 3; median reported)")
    sc.add_argument("--fit-steps", type=int, default=0, help="also time this many training steps of --model")
    sc.add_argument("--model", default="lstm", help="model for --fit-steps (default lstm)")
    sc.add_argument("--seed", type=int, default=0)
    sc.set_defaults(func=cmd_scale)


def cmd_scale(args):
    from prognos.pipeline.scale.throughput import scale_run

    print(json.dumps(scale_run(args.units, args.batch, args.seed, args.fit_steps, args.model, args.epochs), indent=2))

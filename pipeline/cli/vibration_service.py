"""`prognos vibration-serve-demo`: simulated sample blocks over MQTT to `prognos-edge serve`, alerts on a fault."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser(
        "vibration-serve-demo",
        help="publish simulated bearing blocks over MQTT (127.0.0.1) to "
        "`prognos-edge serve`: an alert on a fault, cleared after repair",
    )
    p.add_argument("--bundle", required=True, help="vibration bundle (classify or anomaly)")
    p.add_argument("--out", required=True, help="folder for predictions.jsonl, alerts.jsonl, metrics.txt, serve.log")
    p.add_argument(
        "--port",
        type=int,
        default=1883,
        help="MQTT port on 127.0.0.1; mosquitto is started there if nothing answers (default 1883)",
    )
    p.add_argument("--http", type=int, default=9108, help="serve's /healthz and /metrics port (default 9108)")
    p.add_argument("--pace", type=float, default=1.0, help="publishing speed, x real time (default 1)")
    p.set_defaults(func=cmd_serve_demo)


def cmd_serve_demo(args) -> None:
    import json

    from prognos.pipeline.vibration.service_demo import run_demo

    print(json.dumps(run_demo(args.bundle, args.out, args.port, args.http, args.pace), indent=2))

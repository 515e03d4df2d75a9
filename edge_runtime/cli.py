"""`prognos-edge`: run a bundle on a stream of raw sensor rows, on the device, without TensorFlow."""

from __future__ import annotations

import argparse
import sys

from prognos.edge_runtime.errors import ConfigError, PrognosError

INPUT_HELP = (
    "Rows (RUL bundles): C-MAPSS 26-column text, CSV with a header naming unit, cycle and the bundle's "
    "features (a named-column bundle: its own asset and time columns; trained on timestamps: ISO 8601 "
    "times, counted into steps as in training, docs/own-data.md), or JSON objects "
    '{"unit"|"asset", "cycle"|"ts", <feature>: number}. Raw samples '
    "(classify/anomaly bundles): MQTT blocks, JSON lines, .npy, float32 or WAV; docs/vibration-service.md."
)


# file-system errors are the user's (a missing or unreadable path they named), whichever module meets them
PATH_ERRORS = (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError)


def path_message(e: OSError) -> str:
    return f"{e.filename}: {e.strerror.lower()}" if e.filename else str(e)


def count(text: str) -> int:
    """argparse type: an integer >= 1 (units, epochs, threads, rows ...)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text}: expected an integer >= 1")
    return value


def _number(text: str, low: float, strict: bool) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (value > low if strict else value >= low) or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text}: expected a finite number {'>' if strict else '>='} {low:g}")
    return value


def positive(text: str) -> float:
    """argparse type: a finite number > 0 (seconds, sizes)."""
    return _number(text, 0.0, strict=True)


def nonnegative(text: str) -> float:
    """argparse type: a finite number >= 0 (budgets, margins)."""
    return _number(text, 0.0, strict=False)


def _add_trust(p):
    p.add_argument(
        "--trust",
        action="append",
        metavar="PUBKEY_FILE",
        help="trusted public key (signing.pub), "
        "repeatable: the bundle must be signed by one of them (adds to the config's trusted_keys)",
    )
    p.add_argument(
        "--allow-unsigned",
        action="store_true",
        default=None,
        help="development only: accept an unsigned bundle (logged loudly)",
    )


def _trust(args):
    """The signing.Trust of --trust / --allow-unsigned (classify, anomaly); None when neither is given."""
    from prognos.edge_runtime.signing import Trust

    return Trust.from_files(args.trust or [], bool(args.allow_unsigned)) if args.trust or args.allow_unsigned else None


def _add_stream(p, input_default="-"):
    _add_trust(p)
    p.add_argument("--bundle", help="bundle directory (model file + manifest.json)")
    p.add_argument("--input", default=None, help=f"input file, - for stdin, or mqtt (default {input_default})")
    p.add_argument("--threads", type=count, default=None, help="interpreter threads (default 1)")
    p.add_argument(
        "--rul-alert",
        type=float,
        default=None,
        help="status 'alert' when RUL <= this many cycles (default: the bundle's, else 30)",
    )
    p.add_argument("--max-batch", type=count, default=None, help="windows per backend call (default 64)")
    p.add_argument("--alerts", default=None, help="alert events: a file, - for stdout, or none")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="prognos-edge", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    pr = sub.add_parser(
        "predict",
        help="stream rows through a bundle; JSON lines out, one per accepted row",
        description=INPUT_HELP + " Prints {unit, cycle, rul, status} per accepted row. "
        "Rejected rows are logged to stderr and counted; a summary is printed to stderr at the end.",
    )
    _add_stream(pr)
    pr.add_argument("--quiet", action="store_true", help="do not log each rejected row")
    sv = sub.add_parser(
        "serve",
        help="the device service: stream, alerts, MQTT, /healthz + /metrics, hot-swap",
        description=INPUT_HELP + " Settings come from --config (TOML, see "
        "edge_runtime/config.py) and the flags below override them.",
    )
    sv.add_argument("--config", help="service config (TOML)")
    _add_stream(sv)
    sv.add_argument("--watch", help="folder polled for new bundles (hot-swap); SIGHUP also reloads")
    sv.add_argument("--http", type=int, help="serve /healthz and /metrics on this port (127.0.0.1)")
    sv.add_argument("--mqtt", help="broker HOST:PORT (subscribe with --input mqtt; publish predictions/alerts)")
    sv.add_argument("--predictions", help="predictions: a file, - for stdout (default), or none")
    sv.add_argument(
        "--samples",
        metavar="FORMAT",
        choices=["f32", "npy", "wav", "jsonl"],
        help="vibration bundles: format of a file/stdin input (default: from the suffix; stdin f32)",
    )
    sv.add_argument("--follow", action="store_true", default=None, help="vibration: read the input file as it grows")
    sv.add_argument("--asset", help="vibration: asset id of a file/stdin input (default: the file stem or stdin)")
    _add_bearing(sv, "; overrides [samples] of --config")
    c = sub.add_parser(
        "classify",
        help="classify a raw vibration recording with a 'classify' bundle; JSON lines "
        "{window, start, class, prob, status} out, one per full window",
    )
    c.add_argument("--bundle", required=True, help="bundle directory of task 'classify' (prognos vibration)")
    c.add_argument("--input", required=True, help="raw samples: .npy (1-D) or text, one number per line")
    c.add_argument("--threads", type=count, default=1, help="interpreter threads (default 1)")
    _add_trust(c)
    c.add_argument("--expect", help="true class name: print windows and accuracy to stderr at the end")
    _add_bearing(c)
    a = sub.add_parser(
        "anomaly",
        help="score a raw vibration recording with an 'anomaly' bundle; JSON lines "
        "{window, start, score, threshold, status healthy|anomalous} out",
    )
    a.add_argument("--bundle", required=True, help="bundle directory of task 'anomaly' (prognos vibration-anomaly)")
    a.add_argument("--input", required=True, help="raw samples: .npy (1-D) or text, one number per line")
    a.add_argument("--threads", type=count, default=1, help="interpreter threads (default 1)")
    _add_trust(a)
    r = sub.add_parser(
        "retarget",
        help="copy a fault-order bundle for another bearing (and a configured shaft "
        "speed), for `serve` and hot-swap: the manifest's DspSpec reads its orders",
    )
    r.add_argument("--bundle", required=True, help="bundle directory of a DspSpec kind 'fault_orders'")
    r.add_argument("--bearing", help="a name (6205, 6203), a TOML file of [bearings.<name>] tables or FILE.toml:NAME")
    r.add_argument("--shaft-hz", type=float, help="shaft speed (Hz) used when none comes with the samples")
    r.add_argument("--out", required=True, help="new bundle directory")
    _add_tools(sub)
    return p


def _add_bearing(p, where: str = "") -> None:
    """--shaft-hz and --bearing of the vibration commands (classify, serve)."""
    p.add_argument(
        "--shaft-hz",
        type=float,
        help="shaft speed in Hz; needed by order-normalized and fault-order bundles (`prognos vibration "
        f"--samples-per-rev` / `--kind fault_orders`) when the manifest configures none{where}",
    )
    p.add_argument(
        "--bearing",
        help="fault-order bundles: the monitored bearing, a name (6205, 6203), a TOML file of "
        f"[bearings.<name>] tables or FILE.toml:NAME (default: the bearing it was trained on){where}",
    )


def _add_tools(sub) -> None:
    b = sub.add_parser(
        "bench",
        help="on-device latency of a bundle: load time, invoke and row->JSON p50/p99, "
        "fleet rows/s, MAC bound, RSS; --candidates: install the fastest bundle",
    )
    b.add_argument("--bundle", help="bundle directory")
    b.add_argument(
        "--candidates",
        help="a folder of bundles (e.g. RUN/bundles): measure each here, copy the "
        "fastest within the accuracy budget to DIR/best, write DIR/best.json (why)",
    )
    b.add_argument(
        "--assets", default="64,1024", help="fleet sizes streamed at once, comma-separated (default 64,1024)"
    )
    b.add_argument("--threads", type=count, default=1, help="interpreter threads (default 1: numbers per core)")
    b.add_argument(
        "--runtime",
        choices=["openvino"],
        help="an optional runtime instead of the bundle's default "
        "(openvino: .onnx bundles; pip install 'prognos-edge[openvino]')",
    )
    b.add_argument(
        "--budget",
        type=float,
        default=0.3,
        help="--candidates: largest validation RMSE increase over the Keras model (cycles, default 0.3)",
    )
    b.add_argument("--seconds", type=positive, default=2.0, help="timed seconds per measurement (default 2)")
    b.add_argument("--json", action="store_true", help="print the full result as JSON")
    b.add_argument("--markdown", action="store_true", help="print the fleet numbers as a Markdown table")
    b.add_argument("--probes", type=count, default=5, help="fresh interpreters for load time and RSS (default 5)")
    sk = sub.add_parser(
        "soak",
        help="a long stream with injected faults; RSS over time, every rejection counted",
        description="Exits 1 unless every injected fault was counted under its reason, no "
        "accepted row was lost and RSS after warm-up stayed within --max-growth-mb.",
    )
    sk.add_argument("--bundle", required=True, help="bundle directory")
    sk.add_argument("--rows", type=count, default=1_000_000)
    sk.add_argument("--malformed", type=float, default=0.01, help="fraction of broken rows (default 0.01)")
    sk.add_argument("--assets", type=count, default=100)
    sk.add_argument("--format", choices=["text", "json"], default="text")
    sk.add_argument("--every", type=positive, default=5.0, help="RSS sample interval in seconds (default 5)")
    sk.add_argument("--max-growth-mb", type=float, default=5.0)
    d = sub.add_parser(
        "deploy",
        help="package a bundle (wheel, [edge] requirements, config, systemd unit) and "
        "install it on a device folder or ssh://user@host[:port]/path",
    )
    d.add_argument("--device", required=True, help="a folder, or ssh://user@host[:port]/path")
    d.add_argument("--bundle", required=True, help="bundle directory")
    d.add_argument(
        "--config",
        help="service config (TOML) without `bundle` and `trusted_keys`; default: MQTT on 127.0.0.1, /healthz on 9100",
    )
    d.add_argument(
        "--trust",
        action="append",
        metavar="PUBKEY_FILE",
        default=[],
        help="public key(s) the device trusts (repeatable; shipped as keys/ and set as trusted_keys); "
        "required unless the config says allow_unsigned = true",
    )
    k = sub.add_parser("keygen", help="write an ed25519 signing key pair: DIR/signing.key (0600) and DIR/signing.pub")
    k.add_argument("--out", required=True, help="folder for the key pair (created; an existing key is kept)")
    h = sub.add_parser("healthcheck", help="wait for the configured service's /healthz (used by deploy on the device)")
    h.add_argument("--config", required=True, help="service config (TOML)")
    h.add_argument("--timeout", type=positive, default=30.0, help="seconds to wait for a 200 (default 30)")
    h.add_argument("--check-bundle", action="store_true", help="only verify the config and its bundle, offline")


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except PrognosError as e:
        print(f"prognos-edge: error: {e}", file=sys.stderr)
        return 2
    except PATH_ERRORS as e:  # a path given on the command line or in a config that is not there / not ours
        print(f"prognos-edge: error: {path_message(e)}", file=sys.stderr)
        return 2


def _service_config(args):
    from prognos.edge_runtime.config import ServiceConfig
    from prognos.edge_runtime.samples import check_shaft_hz

    cfg = ServiceConfig.load(args.config) if getattr(args, "config", None) else ServiceConfig()
    for flag, key in (
        ("bundle", "bundle"),
        ("input", "input"),
        ("threads", "threads"),
        ("rul_alert", "rul_alert"),
        ("alerts", "alerts"),
        ("watch", "watch"),
        ("predictions", "predictions"),
    ):
        if getattr(args, flag, None) is not None:
            setattr(cfg, key, getattr(args, flag))
    if args.max_batch is not None:
        cfg.stream.max_batch = args.max_batch
    for flag, key in (("samples", "format"), ("follow", "follow"), ("asset", "asset"), ("bearing", "bearing")):
        if getattr(args, flag, None) is not None:
            setattr(cfg.samples, key, getattr(args, flag))
    if getattr(args, "shaft_hz", None) is not None:
        cfg.samples.shaft_hz = check_shaft_hz(args.shaft_hz, "--shaft-hz")
    cfg.trusted_keys += args.trust or []
    if args.allow_unsigned:
        cfg.allow_unsigned = True
    if getattr(args, "http", None) is not None:
        cfg.http.port = args.http
    if getattr(args, "mqtt", None):
        host, _, port = args.mqtt.rpartition(":")
        cfg.mqtt.host, cfg.mqtt.port = (host, int(port)) if host else (port, 1883)
    return cfg


def cmd_predict(args) -> int:
    from prognos.edge_runtime.service import Service

    cfg = _service_config(args)
    if args.alerts is None:
        cfg.alerts = "none"  # stdout stays one prediction per accepted row
    cfg.log_rejected = 0 if args.quiet else 10**9
    return Service(cfg).run()


def cmd_serve(args) -> int:
    from prognos.edge_runtime.service import Service

    return Service(_service_config(args)).run()


def cmd_classify(args) -> int:
    import json

    from prognos.edge_runtime.bundle import Bundle
    from prognos.edge_runtime.dsp_spec import with_bearing
    from prognos.edge_runtime.samples import check_shaft_hz
    from prognos.edge_runtime.vibration import read_samples, vibration_stream

    bundle = Bundle(args.bundle, num_threads=args.threads, trust=_trust(args))
    if args.expect is not None and args.expect not in bundle.classes:
        print(
            f"prognos-edge: error: --expect {args.expect!r}; the bundle's classes are {bundle.classes}", file=sys.stderr
        )
        return 2
    if args.bearing is not None and bundle.dsp is not None:
        bundle.dsp = with_bearing(bundle.dsp, args.bearing)  # read this bearing's fault orders
    shaft_hz = None if args.shaft_hz is None else check_shaft_hz(args.shaft_hz, "--shaft-hz")
    outs = vibration_stream(bundle, read_samples(args.input), "classify", shaft_hz=shaft_hz)
    for o in outs:
        print(json.dumps(o))
    if args.expect is not None:
        hits = sum(o["class"] == args.expect for o in outs)
        print(
            json.dumps(
                {
                    "windows": len(outs),
                    "expected": args.expect,
                    "accuracy": round(hits / len(outs), 4) if outs else None,
                }
            ),
            file=sys.stderr,
        )
    return 0


def cmd_retarget(args) -> int:
    from prognos.edge_runtime.retarget import retarget

    out = retarget(args.bundle, args.out, args.bearing, args.shaft_hz)
    print(
        f"[prognos-edge] wrote {out}: reads {args.bearing or 'the trained bearing'}"
        f"{f' at {args.shaft_hz:g} Hz' if args.shaft_hz else ''}"
    )
    return 0


def cmd_anomaly(args) -> int:
    """JSON line per window, then a summary {windows, anomalous, fraction} on stderr."""
    import json

    from prognos.edge_runtime.bundle import Bundle
    from prognos.edge_runtime.vibration import read_samples, vibration_stream

    bundle = Bundle(args.bundle, num_threads=args.threads, trust=_trust(args))
    outs = vibration_stream(bundle, read_samples(args.input), "anomaly")
    for o in outs:
        print(json.dumps(o))
    flagged = sum(o["status"] == "anomalous" for o in outs)
    print(
        json.dumps(
            {"windows": len(outs), "anomalous": flagged, "fraction": round(flagged / len(outs), 4) if outs else None}
        ),
        file=sys.stderr,
    )
    return 0


def cmd_bench(args) -> int:
    import json

    from prognos.edge_runtime.bench import bench, markdown, parse_assets, table

    fleets = parse_assets(args.assets)
    if args.candidates:
        from prognos.edge_runtime.choose import choose, summary

        result = choose(args.candidates, args.seconds, args.threads, fleets[0], args.budget)
        print(json.dumps(result, indent=2) if args.json else summary(result))
        return 0
    if not args.bundle:
        raise ConfigError("bench: give --bundle DIR (one bundle) or --candidates DIR (a folder of bundles)")
    result = bench(args.bundle, args.seconds, args.threads, args.probes, fleets, runtime=args.runtime)
    print(json.dumps(result, indent=2) if args.json else markdown(result) if args.markdown else table(result))
    return 0


def cmd_soak(args) -> int:
    import json

    from prognos.edge_runtime.soak import soak

    r = soak(args.bundle, args.rows, args.malformed, args.assets, args.format, args.every, args.max_growth_mb)
    print(json.dumps(r))
    return 0 if r["ok"] else 1


def cmd_deploy(args) -> int:
    from prognos.edge_runtime.deploy import deploy

    rid = deploy(args.bundle, args.device, args.config, args.trust)
    print(f"[prognos-deploy] release {rid} installed and healthy on {args.device}")
    return 0


def cmd_keygen(args) -> int:
    from prognos.edge_runtime.signing import keygen, key_id, load_public_key

    key, pub = keygen(args.out)
    print(
        f"wrote {key} (private: keep it on the build machine, mode 0600) and {pub} (key id "
        f"{key_id(load_public_key(pub))}: give it to devices as trusted_keys / --trust)"
    )
    return 0


def cmd_healthcheck(args) -> int:
    import json
    import os
    import time
    import urllib.error
    import urllib.request

    from prognos.edge_runtime.config import ServiceConfig

    cfg = ServiceConfig.load(args.config)
    if args.check_bundle:
        from prognos.edge_runtime.bundle import Bundle

        bundle = Bundle(cfg.bundle, trust=cfg.trust())
        signed = f", signed by trusted key {bundle.signer}" if bundle.signer else ", NOT signed"
        print(f"bundle {cfg.bundle} verified: sha256 {bundle.sha256[:12]}{signed}")
        if cfg.mqtt.host:  # the TLS and password files live on the device, not in the release
            from prognos.edge_runtime.mqtt import check_files

            check_files(cfg.mqtt)
        return 0
    url, end, last = f"http://{cfg.http.host}:{cfg.http.port}/healthz", time.monotonic() + args.timeout, ""
    want = os.path.realpath(args.config)
    while time.monotonic() < end:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                body = r.read().decode().strip()
            if json.loads(body).get("config") == want:
                print(f"healthy: {body}")
                return 0
            last = f"a service of another config answers: {body}"  # e.g. the old release still running
        except urllib.error.HTTPError as e:
            last = e.read().decode().strip()
        except OSError as e:
            last = str(e)
        time.sleep(0.5)
    print(f"prognos-edge: {url} not healthy after {args.timeout:g} s: {last}", file=sys.stderr)
    return 1


COMMANDS = {
    "predict": cmd_predict,
    "classify": cmd_classify,
    "retarget": cmd_retarget,
    "anomaly": cmd_anomaly,
    "serve": cmd_serve,
    "bench": cmd_bench,
    "soak": cmd_soak,
    "deploy": cmd_deploy,
    "healthcheck": cmd_healthcheck,
    "keygen": cmd_keygen,
}

if __name__ == "__main__":
    sys.exit(main())

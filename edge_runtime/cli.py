"""`prognos-edge`: run a bundle on a stream of raw sensor rows, on the device, without TensorFlow."""
from __future__ import annotations

import argparse
import json
import sys

from edge_runtime.errors import PrognosError, RowError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="prognos-edge", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    pr = sub.add_parser("predict", help="stream rows through a bundle; JSON lines out, one per accepted row",
                        description="Read raw rows (C-MAPSS 26-column text, or CSV with a header naming "
                                    "unit, cycle and the bundle's features), keep a window per unit, "
                                    "print {unit, cycle, rul, status} per accepted row. Rejected rows are "
                                    "logged to stderr and counted; a summary is printed to stderr at the end.")
    pr.add_argument("--bundle", required=True, help="bundle directory (model file + manifest.json)")
    pr.add_argument("--input", default="-", help="input file, or - for stdin (default)")
    pr.add_argument("--threads", type=int, default=1, help="interpreter threads (default 1)")
    pr.add_argument("--rul-alert", type=float, default=None,
                    help="status 'alert' when RUL <= this many cycles (default: the bundle's, else 30)")
    pr.add_argument("--quiet", action="store_true", help="do not log each rejected row")
    return p


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _predict(args)
    except PrognosError as e:
        print(f"prognos-edge: error: {e}", file=sys.stderr)
        return 2


def _predict(args) -> int:
    from edge_runtime.bundle import Bundle
    from edge_runtime.rows import RowParser
    from edge_runtime.stream import RulStream

    stream = RulStream(Bundle(args.bundle, num_threads=args.threads), rul_alert=args.rul_alert)
    features = stream.pre.features
    src = sys.stdin if args.input == "-" else open(args.input, encoding="utf-8", errors="replace")
    parser = None
    with src:
        for lineno, line in enumerate(src, 1):
            if not line.strip():
                continue
            if parser is None:
                parser = RowParser.sniff(line, features) or RowParser(features)
                if parser.csv:
                    continue
            stream.stats.rows_in += 1
            try:
                out = stream.push(*parser.parse(line, lineno))
            except RowError as e:
                stream.stats.rejected[e.reason] += 1
                if not args.quiet:
                    print(f"prognos-edge: rejected ({e.reason}): {e}", file=sys.stderr)
                continue
            sys.stdout.write(json.dumps(out) + "\n")
    print(json.dumps({"summary": stream.stats.to_dict()}), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

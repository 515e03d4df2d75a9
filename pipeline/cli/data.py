"""`prognos data-card` and `prognos simulate-fleet`: look at a fleet table before training; write a demo one.

data-card reads the training table a dataset spec describes (--schema FILE, else DATA_DIR/schema.toml,
else the C-MAPSS preset), prints a short summary and writes data_card.json (docs/own-data.md).
"""

from __future__ import annotations


def register(sub) -> None:
    d = sub.add_parser(
        "data-card",
        help="read a fleet table with its dataset spec; print a summary, write "
        "OUT/data_card.json (columns, assets, regimes, what was filled or dropped)",
    )
    d.add_argument("--data-dir", required=True, help="folder with the training table (or the table itself)")
    d.add_argument("--schema", help="TOML dataset spec (default DATA_DIR/schema.toml, else the C-MAPSS preset)")
    d.add_argument("--subset", help="C-MAPSS preset: subset name when the folder holds several (e.g. FD001)")
    d.add_argument("--out", default="artifacts/data-card", help="output folder (default artifacts/data-card)")
    d.set_defaults(func=cmd_data_card)
    s = sub.add_parser(
        "simulate-fleet",
        help="write a seeded pump fleet: fleet.csv (named columns, hourly "
        "timestamps, operating regimes, censored assets), failures.csv, "
        "schema.toml, test_fleet.csv + test_rul.csv",
    )
    s.add_argument("--out", default="artifacts/fleet-data", help="output folder (default artifacts/fleet-data)")
    s.add_argument("--assets", type=int, default=60, help="training assets (default 60)")
    s.add_argument("--test-assets", type=int, default=20, help="test assets cut before failure (default 20; 0: none)")
    s.add_argument("--regimes", type=int, default=6, help="operating regimes, 1..6 (default 6)")
    s.add_argument("--censored", type=float, default=0.25, help="share of training assets censored (default 0.25)")
    s.add_argument("--seed", type=int, default=0)
    s.set_defaults(func=cmd_simulate_fleet)


def cmd_data_card(args) -> None:
    from prognos.pipeline.data.card import data_card, summary, write_card
    from prognos.pipeline.data.readers import find_spec, read_fleet

    fleet = read_fleet(find_spec(args.data_dir, args.schema, args.subset), args.data_dir)
    card = data_card(fleet)
    print(summary(card))
    print(f"[prognos] wrote {write_card(card, args.out)}")


def cmd_simulate_fleet(args) -> None:
    from prognos.edge_runtime.errors import ConfigError
    from prognos.pipeline.data.fleet_sim import write_fleet

    if args.assets < 1 or args.test_assets < 0 or not 0 <= args.censored < 1:
        raise ConfigError(
            f"--assets {args.assets}, --test-assets {args.test_assets}, --censored {args.censored}: "
            "expected at least 1 asset, test assets >= 0 and a censored share in [0, 1)"
        )
    out = write_fleet(args.out, args.assets, args.seed, args.regimes, args.censored, args.test_assets)
    print(
        f"[prognos] wrote {out}/fleet.csv, failures.csv, schema.toml"
        + (", test_fleet.csv, test_rul.csv" if args.test_assets else "")
    )

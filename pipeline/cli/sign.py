"""`prognos sign`: sign bundles with an ed25519 key (prognos-edge keygen); the bundle writers sign too.

`export`, `quantize`, `prune`, `cluster`, `qat`, `optimize`, `final`, `vibration` and
`vibration-anomaly` sign the bundles they wrote when a key is configured: `--sign-key KEY` or the
environment variable PROGNOS_SIGNING_KEY. They sign last, after every manifest edit (measured
metrics, calibrated intervals, optimize's choice), since any later edit breaks the signature.
"""

from __future__ import annotations

import os

ENV = "PROGNOS_SIGNING_KEY"


def register(sub) -> None:
    s = sub.add_parser(
        "sign",
        help="sign bundle(s) with an ed25519 private key (prognos-edge keygen); devices "
        "that trust its signing.pub then accept them",
    )
    s.add_argument("--bundle", action="append", required=True, help="bundle directory (repeatable)")
    s.add_argument("--key", required=True, help="private key file (DIR/signing.key of prognos-edge keygen)")
    s.set_defaults(func=cmd_sign)


def add_sign_key(p) -> None:
    p.add_argument("--sign-key", help=f"sign the written bundles with this private key (default: ${ENV} if set)")


def cmd_sign(args) -> None:
    sign_all(args.bundle, args.key)


def configured_key(args) -> str | None:
    return getattr(args, "sign_key", None) or os.environ.get(ENV) or None


def sign_written(args, bundle_dirs) -> None:
    """Sign `bundle_dirs` when a key is configured (--sign-key or $PROGNOS_SIGNING_KEY)."""
    key = configured_key(args)
    if key:
        sign_all(bundle_dirs, key)


def sign_all(bundle_dirs, key) -> None:
    from prognos.edge_runtime.signing import sign_bundle

    for d in bundle_dirs:
        print(f"[prognos] signed {d} with key {sign_bundle(d, key)}", flush=True)

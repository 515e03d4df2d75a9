"""A fault-order bundle retargeted to another bearing: same model file, manifest reading the new orders.

`prognos-edge classify --bearing` swaps the bearing for one run; the service (`serve`, hot-swap,
deploy) runs bundles as they are, so a device that monitors a 6203 gets a copy of the 6205-trained
bundle whose DspSpec carries the 6203 geometry (and, optionally, a configured shaft speed). The model
file and its sha256 are unchanged; the copy is verified by loading it before it is reported.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from prognos.edge_runtime.bundle import Bundle, read_manifest
from prognos.edge_runtime.dsp_spec import with_bearing
from prognos.edge_runtime.errors import BundleError, ConfigError
from prognos.edge_runtime.orders import OrderSpec, describe


def retarget(src, out, bearing=None, shaft_hz=None) -> Path:
    """Write bundle `src` to `out` reading `bearing` (name, TOML, FILE.toml:NAME) at `shaft_hz`; returns out."""
    src, out = Path(src), Path(out)
    bundle = Bundle(src)
    if bundle.dsp is None or bundle.dsp.kind != "fault_orders":
        raise BundleError(
            f"{src}: DspSpec kind {getattr(bundle.dsp, 'kind', None)!r}; only 'fault_orders' bundles "
            "(prognos vibration --kind fault_orders) read a bearing's geometry"
        )
    if out.resolve() == src.resolve():
        raise ConfigError(f"--out {out}: the same folder as --bundle; write the retargeted copy elsewhere")
    spec = with_bearing(bundle.dsp, bearing, shaft_hz)
    manifest = read_manifest(src)
    manifest["preprocessing"]["dsp"] = spec.to_dict()
    manifest["preprocessing"]["fault_orders"] = describe(OrderSpec.from_dict(spec.orders))
    manifest.pop("signature", None)  # a new manifest: unsigned until `prognos sign` signs it (edge_runtime.signing)
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src / manifest["model_file"], out / manifest["model_file"])
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2))
    Bundle(out)  # verified: hash, manifest, input shape
    return out

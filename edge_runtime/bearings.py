"""Rolling-element bearing geometries as data, and their kinematic fault orders per shaft revolution.

With a stationary outer race, n rolling elements of diameter d on a pitch diameter D and a contact
angle phi, the characteristic frequencies per shaft revolution (orders) are the standard kinematic
formulas (Randall & Antoni 2011, "Rolling element bearing diagnostics - a tutorial", MSSP 25, eq. 1-4):

    BPFO = n/2 (1 - d/D cos phi)          ball pass frequency, outer race
    BPFI = n/2 (1 + d/D cos phi)          ball pass frequency, inner race
    BSF  = D/(2d) (1 - (d/D cos phi)^2)   ball spin frequency (a ball spall strikes both races: 2 BSF)
    FTF  = 1/2 (1 - d/D cos phi)          fundamental train (cage) frequency

Times the shaft speed in Hz they give Hz. Built in: the two bearings of the CWRU rig, with the
geometry the Case Western Reserve University Bearing Data Center publishes (inches; only d/D
matters): SKF 6205-2RS JEM (drive end) and SKF 6203-2RS JEM (fan end). Their computed orders match
the data center's table to its printed decimals for the 6205 (BPFI 5.4152, BPFO 3.5848, BSF 2.357,
FTF 0.3983); for the 6203 they differ in the 4th decimal (published / computed: BPFO 3.0530 /
3.0531, BSF 1.9940 / 1.9938, FTF 0.3817 / 0.3816; BPFI 4.9469 both), i.e. by rounding of the
published diameters, under 0.02 %.

User bearings come from TOML, one table per bearing (`load_bearings`):

    [bearings.my6306]
    n_balls = 8
    ball_diameter = 12.7     # same unit as pitch_diameter (mm, inch, ...)
    pitch_diameter = 51.5
    contact_angle = 0.0      # degrees
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

from prognos.edge_runtime.configfile import fill, load_toml
from prognos.edge_runtime.errors import ConfigError

ORDER_NAMES = ("BPFI", "BPFO", "BSF", "FTF")


@dataclass(frozen=True)
class Bearing:
    """Geometry of one rolling-element bearing; `orders()` gives its fault orders."""

    name: str
    n_balls: int  # rolling elements
    ball_diameter: float  # d, same unit as pitch_diameter
    pitch_diameter: float  # D, diameter of the circle through the ball centres
    contact_angle: float = 0.0  # phi in degrees; 0 for deep-groove ball bearings under radial load

    def __post_init__(self):
        where = f"bearing {self.name!r}"
        if isinstance(self.n_balls, bool) or not isinstance(self.n_balls, int) or self.n_balls < 3:
            raise ConfigError(f"{where}: n_balls must be an integer >= 3, got {self.n_balls!r}")
        for key in ("ball_diameter", "pitch_diameter", "contact_angle"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ConfigError(f"{where}: {key} must be a finite number, got {value!r}")
        if not 0 < self.ball_diameter < self.pitch_diameter:
            raise ConfigError(
                f"{where}: expected 0 < ball_diameter < pitch_diameter, got "
                f"{self.ball_diameter!r} and {self.pitch_diameter!r}"
            )
        if not 0 <= self.contact_angle < 90:
            raise ConfigError(f"{where}: contact_angle must be in [0, 90) degrees, got {self.contact_angle!r}")
        if self.n_balls * self.ball_diameter >= math.pi * self.pitch_diameter:
            raise ConfigError(
                f"{where}: {self.n_balls} balls of {self.ball_diameter} do not fit on a pitch "
                f"circle of diameter {self.pitch_diameter} (n d < pi D expected)"
            )

    def orders(self) -> dict:
        """{"BPFI", "BPFO", "BSF", "FTF"}: fault frequencies per shaft revolution (see module docstring)."""
        r = self.ball_diameter / self.pitch_diameter * math.cos(math.radians(self.contact_angle))
        n = self.n_balls
        return {
            "BPFI": n / 2 * (1 + r),
            "BPFO": n / 2 * (1 - r),
            "BSF": self.pitch_diameter / (2 * self.ball_diameter) * (1 - r * r),
            "FTF": (1 - r) / 2,
        }

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d, where: str = "bearing") -> "Bearing":
        """A Bearing from a dict (a manifest or TOML table); unknown or missing keys raise ConfigError."""
        if not isinstance(d, dict):
            raise ConfigError(f"{where}: expected a table of bearing geometry, got {d!r}")
        missing = sorted({"n_balls", "ball_diameter", "pitch_diameter"} - set(d))
        if missing:
            raise ConfigError(
                f"{where}: missing {missing}; a bearing needs n_balls, ball_diameter, "
                "pitch_diameter (and optionally contact_angle)"
            )
        return fill(cls, {"name": where, **d}, where)


BEARINGS = {
    b.name: b
    for b in (
        Bearing("6205", n_balls=9, ball_diameter=0.3126, pitch_diameter=1.537),  # SKF 6205, CWRU drive end
        Bearing("6203", n_balls=8, ball_diameter=0.2656, pitch_diameter=1.122),  # SKF 6203, CWRU fan end
    )
}


def load_bearings(path) -> dict:
    """{name: Bearing} of the [bearings.<name>] tables of a TOML file."""
    data = load_toml(path)
    tables = data.get("bearings")
    if set(data) != {"bearings"} or not isinstance(tables, dict) or not tables:
        raise ConfigError(
            f"{path}: expected [bearings.<name>] tables (n_balls, ball_diameter, pitch_diameter, "
            f"contact_angle), got top-level keys {sorted(data)}"
        )
    return {name: Bearing.from_dict(t, name) for name, t in tables.items()}


def get_bearing(ref) -> Bearing:
    """A Bearing from a built-in name ('6205', '6203'), a TOML file with one bearing, or FILE:NAME."""
    if isinstance(ref, Bearing):
        return ref
    ref = str(ref)
    if ref in BEARINGS:
        return BEARINGS[ref]
    path, _, name = ref.rpartition(":") if ".toml:" in ref else (ref, "", "")
    if not Path(path).suffix == ".toml":
        raise ConfigError(
            f"bearing {ref!r}: unknown name; expected one of {sorted(BEARINGS)}, a TOML file "
            "with [bearings.<name>] tables, or FILE.toml:NAME"
        )
    table = load_bearings(path)
    if not name and len(table) == 1:
        return next(iter(table.values()))
    if name not in table:
        raise ConfigError(f"bearing {ref!r}: {path} holds {sorted(table)}; name one as {path}:NAME")
    return table[name]

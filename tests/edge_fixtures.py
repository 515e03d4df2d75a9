"""Write the edge tests' fixtures with the training venv: `python -m tests.edge_fixtures DIR`.

DIR/sim is the tiny simulated fleet and DIR/run the tiny trained run with its exported bundles,
made by the same functions the training-side fixtures use. The prognos-edge venvs (Python
3.10-3.13, no TensorFlow) then run `PROGNOS_EDGE_FIXTURES=DIR pytest -m edge` on these bundles.
"""

import sys
from pathlib import Path

from tests.conftest import make_sim, make_tiny_run


def main(out: Path) -> None:
    if out.exists() and any(out.iterdir()):
        sys.exit(f"{out}: exists and is not empty; give an empty or new folder")
    sim = make_sim(out / "sim")
    make_tiny_run(out / "run", sim)
    print(
        f"edge fixtures in {out}: sim/ (fleet), run/ (bundles {sorted(p.name for p in (out / 'run/bundles').iterdir())})"
    )


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m tests.edge_fixtures DIR")
    main(Path(sys.argv[1]))

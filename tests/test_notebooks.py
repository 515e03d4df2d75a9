"""The lecture notebooks (docs/lecture/) execute headless without a cell error, and are stored stripped.

Each notebook runs in a fresh kernel of THIS interpreter (the project's .venv): a kernelspec written to a
temporary JUPYTER_PATH pins it, so a `python3` kernelspec of another Python on the machine is never used.
The cwd is a temporary folder, so nothing a notebook writes lands in the repository. The kernels run
side by side (a few at a time, in one module fixture): most of a notebook's time is its kernel starting
and importing TensorFlow, one core each; each notebook's test then checks its own run.
"""

import asyncio
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LECTURE = ROOT / "docs" / "lecture"
NOTEBOOKS = sorted(LECTURE.glob("*.ipynb"))
TIMEOUT = 600  # seconds per cell: a busy 2-core CI machine; a quiet one runs the whole set in a few minutes
AT_ONCE = 3  # kernels at a time: each holds TensorFlow in memory


@pytest.fixture(scope="module")
def venv_kernel(tmp_path_factory, monkeypatch_module):
    """A `python3` kernelspec whose argv is this interpreter, first on the Jupyter path."""
    spec = tmp_path_factory.mktemp("jupyter") / "kernels" / "python3"
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": "prognos", "language": "python"}))
    monkeypatch_module.setenv("JUPYTER_PATH", str(spec.parents[1]))
    monkeypatch_module.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    return "python3"


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


def test_the_nine_chapters_are_there():
    assert [p.name[:2] for p in NOTEBOOKS] == [f"{i:02d}" for i in range(1, 10)]


async def _execute(path: Path, kernel: str, cwd: Path, limit: asyncio.Semaphore):
    """The notebook executed in a fresh kernel, or the error that stopped it (CellExecutionError names the cell)."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("import sys; print(sys.executable)", id="kernel-python"))
    client = NotebookClient(nb, kernel_name=kernel, timeout=TIMEOUT, resources={"metadata": {"path": cwd}})
    async with limit:
        await client.async_execute()
    return nb


@pytest.fixture(scope="module")
def executed(venv_kernel, tmp_path_factory, request):
    """The selected notebooks run at once (AT_ONCE kernels at a time): {path: executed notebook or its exception}."""
    items = [i for i in request.session.items if i.originalname == "test_notebook_executes"]
    paths = [p for p in NOTEBOOKS if any(i.callspec.params["path"] == p for i in items)]

    async def run_all():
        limit = asyncio.Semaphore(AT_ONCE)
        runs = [_execute(p, venv_kernel, tmp_path_factory.mktemp(p.stem), limit) for p in paths]
        return dict(zip(paths, await asyncio.gather(*runs, return_exceptions=True)))

    return asyncio.run(run_all())


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_executes(path, executed):
    nb = executed[path]
    if isinstance(nb, BaseException):
        raise nb  # a cell error, with its traceback
    assert Path(nb.cells[-1].outputs[0]["text"].strip()) == Path(sys.executable)  # the kernel ran this venv
    figures = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if "image/png" in o.get("data", {})]
    assert figures, f"{path.name}: no matplotlib figure"


def test_notebooks_in_git_are_stripped():
    tracked = subprocess.run(
        ["git", "ls-files", "docs/lecture/*.ipynb"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    if not tracked:
        pytest.skip("not a git checkout")
    assert sorted(tracked) == [str(p.relative_to(ROOT)) for p in NOTEBOOKS], "every lecture notebook is committed"
    for name in tracked:
        for i, cell in enumerate(json.loads((ROOT / name).read_text())["cells"]):
            if cell["cell_type"] == "code":
                assert cell["outputs"] == [] and cell["execution_count"] is None, f"{name} cell {i}: not stripped"


def test_lecture_table_points_at_real_code_and_tests():
    """Every file and test function named in docs/lecture/README.md exists (`path` or `path::test`, and `::test`
    continuing the previous path)."""
    text = (LECTURE / "README.md").read_text()
    named = [p for p in NOTEBOOKS if f"({p.name})" not in text]
    assert not named, f"notebooks missing from the table: {named}"
    current = None
    for ref in filter(None, re.findall(r"`((?:[\w/]+\.py)?(?:::\w+)?)`", text)):
        path, _, test = ref.partition("::")
        current = ROOT / path if path else current
        assert current is not None and current.is_file(), f"{ref}: no such file"
        assert not test or f"def {test}(" in current.read_text(), f"{ref}: no such test"

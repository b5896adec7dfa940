"""Sphinx configuration of the redunet documentation.

Build with ``python -m sphinx -W -b html docs docs/_build/html`` from the repository
root (needs the ``docs`` extra: ``pip install ".[docs]"``).
"""

import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))      # the package of this checkout, not an installed one
sys.path.insert(0, str(HERE / "_ext"))

import redunet  # noqa: E402

project = "redunet"
author = "the redunet developers"
copyright = "2026, the redunet developers"
version = release = redunet.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "command_help",
]

templates_path = ["_templates"]
exclude_patterns = ["_build"]
root_doc = "index"
default_role = "literal"

# API pages: one page per public name, written by autosummary at build time.
autosummary_generate = True
autodoc_typehints = "none"
autodoc_member_order = "bysource"
numpydoc_show_class_members = False   # class pages document their methods (autodoc)
numpydoc_class_members_toctree = False


def _literal_attribute_names(app, what, name, obj, options, lines):
    """Quote fitted-attribute names (``n_layers_``) in the type of a numpydoc entry.

    A type such as ``dict of ndarray of shape (n_layers_ + 1,)`` names a fitted attribute;
    reST would read the trailing underscore as a reference to a link target.
    """
    entry = re.compile(r"^(\s*\*{0,2}\w+(?:, \w+)* : )(.*)$")
    attribute = re.compile(r"(?<![`\w])([A-Za-z]\w*_)(?![`\w])")
    for index, line in enumerate(lines):
        match = entry.match(line)
        if match:
            lines[index] = match.group(1) + attribute.sub(r"``\1``", match.group(2))


html_theme = "alabaster"
html_theme_options = {
    "description": "White-box ReduNets built in closed form from the rate reduction",
    "fixed_sidebar": True,
    "page_width": "1100px",
    "sidebar_width": "240px",
}
html_static_path = []
html_show_sourcelink = False


def _skip_metadata_requests(app, what, name, obj, skip, options):
    """Leave out the ``set_*_request`` methods scikit-learn's metadata routing adds."""
    if re.fullmatch(r"set_\w+_request", name):
        return True
    return None


def setup(app):
    app.connect("autodoc-skip-member", _skip_metadata_requests)
    # priority < 500: runs before numpydoc rewrites the sections
    app.connect("autodoc-process-docstring", _literal_attribute_names, priority=400)

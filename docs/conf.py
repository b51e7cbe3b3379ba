"""Sphinx configuration of the bayescale documentation.

Build (warnings are errors; no network needed)::

    pip install ".[docs]"
    python -m sphinx -W --keep-going -b html docs docs/_build/html

Pages generated from the code at build time, all git-ignored: the law catalogue
(guide/catalogue.rst), the command-line reference (guide/cli_reference.md) and the table of
likelihoods (guide/likelihood_table.inc), by docs/_ext/generated_pages.py; the API pages under
api/generated/, by autosummary. The notebooks are read from notebooks/ through the links in docs/examples/ and are
rendered with their committed outputs, never executed.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent

# Document the checkout's bayescale (also when an older copy is installed) and find the extension.
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(DOCS / "_ext"))
os.environ.setdefault("MPLBACKEND", "Agg")  # autodoc imports the plotting modules

import bayescale  # noqa: E402

# -- project -------------------------------------------------------------------------------------
project = "bayescale"
author = "bayescale developers"
copyright = "bayescale developers"  # noqa: A001 - Sphinx's name
release = bayescale.__version__
version = ".".join(release.split(".")[:2])

# -- extensions ----------------------------------------------------------------------------------
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "myst_nb",
    "generated_pages",
]

exclude_patterns = ["_build", "_ext", "_templates", "**.ipynb_checkpoints", "Thumbs.db", ".DS_Store"]
templates_path = ["_templates"]
root_doc = "index"

# -- autodoc, autosummary, numpydoc --------------------------------------------------------------
autosummary_generate = True  # stub pages for the top-level names, in api/generated/ (git-ignored)
autosummary_imported_members = False
autodoc_typehints = "none"  # the numpydoc docstrings carry the types; signatures stay readable
autodoc_member_order = "bysource"
autodoc_inherit_docstrings = False  # a subclass without a docstring does not repeat its base's
numpydoc_show_class_members = False  # autodoc's :members: lists them (templates/autosummary/class.rst)
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

# -- MyST and myst-nb ----------------------------------------------------------------------------
myst_enable_extensions = ["dollarmath", "colon_fence"]
myst_heading_anchors = 3
nb_execution_mode = "off"  # notebooks are committed executed; the build never runs them
nb_merge_streams = True

# -- HTML ----------------------------------------------------------------------------------------
html_theme = "furo"
html_title = f"bayescale {release}"
html_show_sourcelink = False

"""Sphinx configuration of the ase-dipole documentation.

Build: ``pip install -e ".[docs]"`` and, from the repository root,
``sphinx-build -W --keep-going -b html docs docs/_build/html``.
"""

import os
import sys

# the checkout's package, not another installed copy
sys.path.insert(0, os.path.abspath(".."))

from ase_dipole import __version__  # noqa: E402

project = "ase-dipole"
author = "the ase-dipole developers"
copyright = "the ase-dipole developers, MIT licence"
version = release = __version__

extensions = [
    "myst_parser",           # the pages are Markdown (MyST)
    "sphinx.ext.autodoc",    # the API reference from the docstrings
    "sphinx.ext.napoleon",   # numpydoc sections in those docstrings
    "sphinx.ext.mathjax",    # .. math:: in docstrings, $...$ in pages
    "sphinxarg.ext",         # the CLI reference from the argparse parsers
]
source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]

myst_enable_extensions = ["dollarmath", "colon_fence"]
myst_heading_anchors = 3

napoleon_google_docstring = False
napoleon_numpy_docstring = True
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True}

# the CLI reference quotes flags and values: keep "--mass" and 'tblite' as typed
smartquotes = False

html_theme = "alabaster"
html_title = f"ase-dipole {release}"

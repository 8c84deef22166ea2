"""Sphinx configuration of the sklearn-unlearn documentation.

Build with ``python -m sphinx -W --keep-going -b html doc doc/_build/html``
(or ``bash doc/build.sh``). The build works offline: links to the
scikit-learn, NumPy and SciPy documentation (intersphinx) are made only when
the environment variable ``SKLEARN_UNLEARN_DOCS_INTERSPHINX=1`` is set, since
fetching their inventories needs the network and a failed fetch is a warning,
which ``-W`` turns into an error.
"""

import os
import sys
from pathlib import Path

DOC = Path(__file__).resolve().parent
ROOT = DOC.parent
# Document the package of this source tree, not an installed copy.
sys.path.insert(0, str(ROOT))

import sklearn_unlearn  # noqa: E402

project = "sklearn-unlearn"
author = "the sklearn-unlearn developers"
copyright = "the sklearn-unlearn developers"
version = release = sklearn_unlearn.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "_generated", "Thumbs.db", ".DS_Store"]
root_doc = "index"
default_role = "literal"

# -- API reference ------------------------------------------------------------
autosummary_generate = True
autosummary_imported_members = False
autodoc_typehints = "none"
autodoc_member_order = "groupwise"
# numpydoc lists class members itself unless told not to; the class template
# (``_templates/autosummary/class.rst``) does it instead.
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
# Every documented public class and function, and ``unlearn``, must carry an
# Examples section (numpydoc check EX01); other methods and attributes are
# not checked.
numpydoc_validation_checks = {"EX01"}
numpydoc_validation_exclude = {
    r"\.[A-Z]\w*\.(?!unlearn$|from_fitted$)\w+$",
}

# -- Links to other projects (opt-in, needs the network) ----------------------
intersphinx_mapping = {
    "python": ("https://docs.python.org/3", None),
    "numpy": ("https://numpy.org/doc/stable/", None),
    "scipy": ("https://docs.scipy.org/doc/scipy/", None),
    "sklearn": ("https://scikit-learn.org/stable/", None),
    "joblib": ("https://joblib.readthedocs.io/en/stable/", None),
    "skops": ("https://skops.readthedocs.io/en/stable/", None),
}
if os.environ.get("SKLEARN_UNLEARN_DOCS_INTERSPHINX", "0") != "1":
    intersphinx_mapping = {}
    intersphinx_disabled_reftypes = ["*"]

# -- Gallery ------------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": [str(ROOT / "examples")],
    "gallery_dirs": ["auto_examples"],
    # Only the plot_*.py files form the gallery; examples/demo.py is the
    # README's command-line demo and stays out of it.
    "filename_pattern": r"/plot_",
    "ignore_pattern": r"^(?!plot_)[^/]*\.py$",
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "remove_config_comments": True,
    "matplotlib_animations": False,
    "image_scrapers": ("matplotlib",),
    "reference_url": {"sklearn_unlearn": None},
    "doc_module": ("sklearn_unlearn",),
    "backreferences_dir": "generated/backreferences",
    "run_stale_examples": False,
    "show_memory": False,
}
# Stop at the first failing example; SKLEARN_UNLEARN_DOCS_PLOT=False builds
# the gallery pages without running them (for quick edits of the prose).
abort_on_example_error = True
plot_gallery = os.environ.get("SKLEARN_UNLEARN_DOCS_PLOT", "True")
if plot_gallery.lower() == "false":
    # Pages that show a gallery figure (certified_removal.rst) point at an
    # image that only a run of the example creates.
    suppress_warnings = ["image.not_readable"]

# -- HTML ---------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"sklearn-unlearn {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": [],
}
html_sidebars = {"**": ["sidebar-nav-bs"]}


# -- Benchmark results ----------------------------------------------------------
def _write_benchmark_include():
    """Include ``benchmarks/RESULTS.md`` when it exists, else say how to make it."""
    out = DOC / "_generated" / "benchmark_results.inc"
    out.parent.mkdir(exist_ok=True)
    results = ROOT / "benchmarks" / "RESULTS.md"
    if results.exists():
        text = (
            "The figures below are ``benchmarks/RESULTS.md`` as committed, written\n"
            "by ``python benchmarks/run.py``.\n\n"
            ".. literalinclude:: /../benchmarks/RESULTS.md\n"
            "   :language: markdown\n"
        )
    else:
        text = (
            ".. note::\n\n"
            "   No results are committed yet. They come from running\n"
            "   ``python benchmarks/run.py``, which writes\n"
            "   ``benchmarks/RESULTS.md``; this page includes that file once it\n"
            "   exists.\n"
        )
    if not out.exists() or out.read_text() != text:
        out.write_text(text)


_write_benchmark_include()

#!/usr/bin/env bash
# Build the HTML documentation, running every gallery example, with warnings
# as errors. Needs the "docs" extra: pip install ".[docs]".
#
#   bash doc/build.sh            # -> doc/_build/html/index.html
#
# Environment:
#   SKLEARN_UNLEARN_DOCS_INTERSPHINX=1  link to the scikit-learn, NumPy and
#       SciPy docs (downloads their inventories: needs the network; off by
#       default so that an offline build passes).
#   SKLEARN_UNLEARN_DOCS_PLOT=False     skip running the gallery examples.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m sphinx -W --keep-going -b html doc doc/_build/html "$@"

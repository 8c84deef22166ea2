"""Search an estimator, in memory and in its serializations, for traces of
erased training data.

The scan knows nothing of the estimator's internals. It is given the erased
rows (removed rows, and the old versions of edited rows) and the erased values
(every value of a removed row, the old values of the edited columns of an
edited row, the targets of a removed row of a regressor), and looks for:

1. ``bytes``: the 8-byte float64 pattern of every erased value and of its
   negative, little- and big-endian (NumPy writes the first, pickle's Python
   floats the second), the 4-byte float32 pattern where the estimator was fit
   on float32, and the decimal ``repr`` in the text parts (skops' JSON), in a
   pickle, in joblib files (uncompressed, and zlib-compressed, decompressed
   before the search), in a skops file when skops is installed (every member
   of the archive) and in a pickle of a ``copy.deepcopy``; of an erased row with many values,
   ``MAX_BYTE_VALUES`` evenly spread stand for the row;
2. reachable values: every object reachable from the estimator (attributes,
   dicts, lists, tuples, sets, dataclasses, ``__slots__``, what
   ``__reduce_ex__`` hands to pickle, closures, NumPy object arrays, scipy
   sparse matrices, also densified) is walked and
   a. ``value``: every float array and Python float is searched for the
      erased values (and their negatives);
   b. ``parallel``: every vector of length ``d`` or ``d + 1`` along any axis
      of an array (a 1-D array itself, rows and columns of a 2-D one), and
      every block of such a length of a longer vector (per class: contiguous
      or strided), is compared with the erased rows: ``|cos| > 1 - 1e-9``
      with the row, with the row augmented by a 1 (intercept), or of its
      first ``d`` entries with the row; ``span``: the same vector lies in the
      span of the rows one request erased (``|projection| > 1 - 1e-9``, for
      at most ``q - 2`` rows), or, for an edit, in the span of the old and
      new versions of its rows but off that of the new ones alone and off
      that of the edited columns' unit vectors (by ``1 - |projection| >
      1e-6``): given the new rows, such a vector (an edit's gradient
      difference, say) gives the old values back;
3. differences, which reveal a row although neither object holds it:
   a. ``difference``: for every pair of square ``p x p`` matrices held (and of
      matrices derived from what is held: the products of a triangular
      factor, the symmetric completion of either triangle, ``A A^T`` of a
      thin ``p x m`` array (``m >= 2``), the dense form of any object with
      ``matvec`` and ``shape``, and the zero matrix, so that a single
      low-rank matrix is checked too), the difference, and each of its
      ``q x q`` class blocks,
      is tested for a numerical rank ``r <= q - 2`` (a gap of ``1e6``
      between singular values ``r`` and ``r + 1``) whose range contains an
      erased row (rank one: the top singular vector is parallel to the row);
      a pair with a member found alone is not reported again;
   b. ``product``: for every parameter-shaped vector ``a`` held (a 1-D array,
      a column or row of a thin 2-D array, a small 2-D array raveled) and
      every difference ``a - b`` of two of them, ``M a`` and ``M (a - b)``
      are tested as in 2b, for every matrix ``M`` of 3a that 3a did not find
      alone, the identity, and every object with ``matvec`` (for example an
      old optimum kept beside the new one and the Hessian:
      ``H (theta_new - theta_old)`` is the erased row's gradient, parallel
      to the row). A vector that 2b finds is not used again.

Limits (so that the scan stays fast): differences of matrices larger than
``MAX_SVD`` on a side and products of thin arrays larger than ``MAX_DERIVED``
are not formed (an object with ``matvec`` larger than ``MAX_SVD`` still
enters 3b); vectors are split into at most ``MAX_BLOCKS`` class blocks. An
object with ``matvec`` is applied on a deep copy of itself (a product may
charge a cost model), so the scan never changes what it scans.
"""

from ._erased import (
    GAP,
    MAX_BLOCKS,
    MAX_BYTE_VALUES,
    MAX_DERIVED,
    MAX_OUTPUTS,
    MAX_SVD,
    PARALLEL,
    Erased,
    Finding,
)
from ._scan import report, scan

__all__ = [
    "GAP",
    "MAX_BLOCKS",
    "MAX_BYTE_VALUES",
    "MAX_DERIVED",
    "MAX_OUTPUTS",
    "MAX_SVD",
    "PARALLEL",
    "Erased",
    "Finding",
    "report",
    "scan",
]

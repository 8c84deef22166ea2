"""The Euclidean norm that the convergence tests of the solvers compare."""

import numpy as np
from scipy.linalg import blas


def scaled_norm(a):
    """The Euclidean norm of every entry of ``a``, by the BLAS's scaled sum
    of squares: no square underflows or overflows, so a gradient of entries
    near 1e-200 or 1e200 has its norm (``numpy.linalg.norm`` gives 0 or
    ``inf`` there, which stopped the iterations where they started).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_unlearn.solvers._norms import scaled_norm
    >>> v = np.array([3e-170, 4e-170])
    >>> float(np.linalg.norm(v)), scaled_norm(v)
    (0.0, 5e-170)
    """
    return float(blas.dnrm2(np.ascontiguousarray(a, dtype=np.float64).ravel()))

"""How a request changes the cached matrices, as weighted rows (the Hessian
blocks and the bound's Gram matrices ``K`` and ``K_R``)."""

import numpy as np
import scipy.sparse as sp

from ..hessian._rows import RowCurvature


class RequestChange:
    """How a request changes the cached matrices, as weighted rows.

    ``removed`` holds the curvature of the rows leaving the data (negative
    weights), per Hessian block, and ``added`` that of the rows entering it.
    ``hessian`` holds the whole change per block, and ``gram``, ``norm_gram``
    that of the bound's Gram matrices. A request
    that corrects rows (``X_old`` and ``X_new`` row by row) enters as one row
    each: dense rows with the columns they change (see
    :class:`~sklearn_unlearn.solvers.RowCurvature`), sparse rows merged when
    their features are unchanged. Rows whose change is zero everywhere (a
    label correction of a logistic model, whose curvature does not depend on
    the label) are left out. All terms share one array of rows.
    """

    def __init__(self, obj, r, theta, eta_old, eta_new, *, grams, inside_old=None):
        # a loss whose curvature jumps: the rows leave on the side they
        # entered on (``inside_old``), wherever theta has moved them since
        curvature = None if inside_old is None else obj.loss.side_curvature(inside_old)
        self.removed = obj.row_curvature(r.R_old, r.Y_old, -r.S_old, theta, eta_old,
                                         curvature=curvature)
        # (an edit's rows enter below as edits of the old ones)
        added = obj.row_curvature(r.R_old if r.edit is not None else r.R_new,
                                  r.Y_new, r.S_new, theta, eta_new)
        # the rows' squared norms, computed once for every term on them
        share_squares(self.removed, r.squares_old)
        share_squares(added, r.squares_old if r.edit is not None else r.squares_new)
        self.added = added
        w_old = [t.weights for t in self.removed]
        w_new = [t.weights for t in added]
        if grams:
            s_old, s_new = r.S_old[:, 0], r.S_new[:, 0]
            w_old += [-s_old, -s_old * r.norms_old]
            w_new += [s_new, s_new * r.norms_new]
        if r.edit is not None:
            self.added, terms = _edit_terms(r, added, w_old, w_new)
        else:
            terms = _row_terms(r, w_old, w_new)
        n_blocks = len(self.removed)
        self.hessian = terms[:n_blocks]
        self.gram, self.norm_gram = terms[n_blocks:] if grams else (None, None)
        if grams:
            # the Gram matrices' traces from the row norms: O(k), not O(k p)
            sq_old, sq_new = r.norms_old**2, r.norms_new**2
            self.gram.known_trace = float(s_new @ sq_new - s_old @ sq_old)
            self.norm_gram.known_trace = float((s_new * r.norms_new) @ sq_new
                                               - (s_old * r.norms_old) @ sq_old)


def _edit_terms(r, added, w_old, w_new):
    """An edit's terms: each corrected row as one row, its new version an
    edit of its old one (products with them then read the same array as
    every other term); rows whose change is zero everywhere left out. Also
    the added rows as edits of the removed ones."""
    cols, delta = r.edit
    if len(cols):
        added = [RowCurvature(r.R_old, t.weights, edit=(cols, delta, t.weights),
                              row_squares=r.squares_old) for t in added]
    weights = [wo + wn for wo, wn in zip(w_old, w_new)]
    keep = np.any(delta != 0, axis=1)
    for w in weights:
        keep |= (w != 0).reshape(len(w), -1).any(axis=1)
    if keep.all():
        rows, squares = r.R_old, r.squares_old
    else:
        rows, delta = r.R_old[keep], delta[keep]
        squares = r.squares_old[keep]
        weights = [w[keep] for w in weights]
        w_new = [w[keep] for w in w_new]
    terms = [RowCurvature(rows, w, edit=(cols, delta, wn) if len(cols) else None,
                          row_squares=squares)
             for w, wn in zip(weights, w_new)]
    return added, terms


def _row_terms(r, w_old, w_new):
    """The terms of removed and added rows: a row given in both (unchanged
    features) merged into one, rows whose change is zero everywhere left
    out, one array of rows shared by all."""
    k_old, k_new = len(r.Y_old), len(r.Y_new)
    same = (same_rows(r.R_old, r.R_new) if k_old == k_new
            else np.zeros(k_old, dtype=bool))
    both = np.flatnonzero(same)
    only_old = np.flatnonzero(~same)
    only_new = only_old if k_old == k_new else np.arange(k_new)
    weights = [np.concatenate([wo[only_old], wn[only_new], wo[both] + wn[both]])
               for wo, wn in zip(w_old, w_new)]
    nonzero = np.zeros(len(weights[0]), dtype=bool)
    for w in weights:
        nonzero |= (w != 0).reshape(len(w), -1).any(axis=1)
    # positions in R_all (old rows, then new rows)
    order = np.concatenate([only_old, k_old + only_new, both])[nonzero]
    if len(order) == r.R_all.shape[0] and np.all(order == np.arange(len(order))):
        rows = r.R_all          # nothing merged or dropped: no copy
    else:
        rows = r.R_all[order]
    squares = np.concatenate([r.squares_old, r.squares_new])[order]
    return [RowCurvature(rows, w[nonzero], row_squares=squares) for w in weights]


def removed_gram(r, power):
    """The change of ``sum_i s_i ||x_i||^power x_i x_i^T`` (``K`` for 0,
    ``K_R`` for 1) from the rows the request removes; its trace from the row
    norms."""
    w = -r.S_old[:, 0] * r.norms_old**power
    return RowCurvature(r.R_old, w, trace=float(w @ r.norms_old**2),
                        row_squares=r.squares_old)


def share_squares(terms, squares):
    """Give the terms of one array of rows its squared row norms."""
    for t in terms:
        t.row_squares = squares


def same_rows(A, B):
    """Whether row ``i`` of ``A`` equals row ``i`` of ``B``."""
    if sp.issparse(A) or sp.issparse(B):
        return np.asarray((sp.csr_matrix(A) != sp.csr_matrix(B)).getnnz(axis=1)) == 0
    return np.all(A == B, axis=1)

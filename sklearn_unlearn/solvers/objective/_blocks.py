"""Operations on the Hessian blocks of an objective: one solve, one product
or one application of row changes for every block, the parameters split and
joined by the objective's own layout."""

import numpy as np

from ..hessian._factored import FactoredHessian
from ..hessian._rows import RowCurvature, apply_terms


def solve(obj, hessians, g, rtol=0.0, residual=False):
    """Solve with every block; with ``residual`` also ``g - H x``."""
    out = [H.solve(obj.to_block(g, b), rtol=rtol, residual=residual)
           for b, H in enumerate(hessians)]
    if not residual:
        return obj.from_blocks(out)
    return obj.from_blocks([o[0] for o in out]), obj.from_blocks([o[1] for o in out])


def apply_all(obj, jobs):
    """The row changes ``terms`` times ``v`` for every ``(terms, v)`` of
    ``jobs`` (``None`` gives ``None``), with one pass over each array of
    rows the terms share; a single RowCurvature acts on the whole ``(p, m)``
    array (a Gram matrix of the bound), a list holds one term per Hessian
    block."""
    pairs, spans = [], []
    for job in jobs:
        if job is None:
            spans.append(None)
            continue
        terms, v = job
        start = len(pairs)
        if isinstance(terms, RowCurvature):
            pairs.append((terms, v))
        else:
            pairs += [(t, obj.to_block(v, b)) for b, t in enumerate(terms)]
        spans.append((start, len(pairs), isinstance(terms, RowCurvature)))
    outs = apply_terms(pairs)
    return [None if span is None else outs[span[0]] if span[2]
            else obj.from_blocks(outs[span[0]:span[1]]) for span in spans]


def matvec(obj, hessians, v, terms=None):
    return obj.from_blocks([
        H.matvec(obj.to_block(v, b), None if terms is None else terms[b])
        for b, H in enumerate(hessians)
    ])


def corrected(H, terms, fold, error, lines=None):
    """``H.corrected``; a factored block may be damped by up to ``error``
    (the cache's bound on its operator-norm error) plus its own rounding.
    ``lines`` (:func:`feature_lines`): set in the same fold."""
    if isinstance(H, FactoredHessian):
        # no damping where the error is not bounded (the squared hinge)
        damping = error + H.error if np.isfinite(error) else 0.0
        return H.corrected(terms, fold=fold, max_damping=damping, lines=lines)
    return H.corrected(terms, fold=fold, lines=lines)


def feature_lines(obj, features, b):
    """``(index, diagonal)``: the lines of Hessian block ``b`` that hold the
    weights of ``features``, and the penalty on their diagonal. A coupled
    block holds every output's weight of a feature (ordered output by
    output), another block one line per feature for the outputs it serves."""
    full = np.zeros((obj.n_params, obj.n_outputs), dtype=bool)
    full[features] = True
    mask = obj.to_block(full, b)
    if mask.ndim == 2:
        return features, obj.penalty[features]
    lines = np.flatnonzero(mask)
    penalties = np.repeat(obj.penalty[:, None], obj.n_outputs, axis=1)
    return lines, obj.to_block(penalties, b)[lines]


def exact_columns_spared(obj, hessians, gone, empty):
    """The Hessian blocks with every exact coordinate of a sketch (a unit
    test vector, :class:`~..hessian._sketch.SketchCore`) on a feature of
    ``gone``, which the request left in no row, renamed to a feature drawn
    at random (fresh entropy) among those no row holds (``empty``, ``gone``
    among them) that are not exact already, and the exact coordinates put
    back in the order a fit takes them (the intercepts, then by feature).

    A fit takes the coordinates of largest curvature exactly; one that no
    row holds any more would name a column only the erased rows held (a
    word of an erased document). Renamed to any empty feature, with
    ``gone`` as likely as any other, and in a fit's order, it tells only
    that an exact column was emptied, which the sketch's rank, one test
    vector of no product, tells as well. Where ``gone`` are the only empty
    features, they stay. Costs a product of the factor with an ``s x s``
    matrix, on the requests that empty an exact column only."""
    rng = np.random.default_rng()
    rows = np.repeat(np.arange(obj.n_params)[:, None], obj.n_outputs, axis=1)
    intercept = obj.n_params - 1 if obj.design.fit_intercept else -1
    out = []
    for b, H in enumerate(hessians):
        core = None if isinstance(H, FactoredHessian) else H.sketch_core
        if core is None or H.pending_rank:
            out.append(H)
            continue
        # the feature of each coordinate of the block
        feature = obj.to_block(rows, b)
        feature = feature[:, 0] if feature.ndim == 2 else feature
        exact = np.unique(feature[np.r_[core.J, core.minus[core.minus >= 0]]])
        vacated = np.intersect1d(exact, gone)
        if not len(vacated):
            out.append(H)
            continue
        spare = np.union1d(np.setdiff1d(empty, exact), vacated)
        chosen = rng.choice(spare, size=len(vacated), replace=False)
        old = np.concatenate([np.flatnonzero(feature == f) for f in vacated])
        new = np.concatenate([np.flatnonzero(feature == f) for f in chosen])
        # a fit's order: the intercepts, then by feature, then by coordinate
        rank = np.empty(len(feature), dtype=np.intp)
        rank[np.lexsort((np.arange(len(feature)), feature, feature != intercept))] = (
            np.arange(len(feature)))
        out.append(H.with_exact_renamed(old, new, rank))
    return out

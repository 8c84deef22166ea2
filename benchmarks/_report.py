"""Markdown tables and plots of the benchmark results."""

import numpy as np

import _core as C


def _f(x, fmt="{:.3g}"):
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return "–"
    if isinstance(x, bool):
        return "yes" if x else "no"
    return fmt.format(x)


def _ms(x):
    return _f(None if x is None else 1e3 * x, "{:.3g}")


def _tol(row, prefix):
    if row.get(f"{prefix}_tol") is None:
        return "direct"
    mark = "" if row.get(f"{prefix}_reached") else " (not reached)"
    return f"{row[f'{prefix}_tol']:.0e}{mark}"


def find(rows, **kw):
    for r in rows:
        if all(r.get(k) == v for k, v in kw.items()):
            return r
    return None


def fit_floor(o):
    """``(parent + one Gram) / parent`` for a fit whose parent is iterative
    (its tolerance sets its accuracy) and whose one Gram was timed: the
    lowest fit overhead a dense Hessian summed over every row allows. A
    direct parent (ridge's Cholesky solve) forms that Gram itself."""
    if o.get("t_gram") is None or not C.family(o["estimator"]).tol_search:
        return None
    return (o["t_parent"] + o["t_gram"]) / o["t_parent"]


def targets(payload):
    """The targets of the issue: (what, measured, target, passed)."""
    rows = payload["rows"]
    out = []

    def big(task, estimator):
        cands = [r for r in rows if r["task"] == task and r["estimator"] == estimator
                 and not r.get("unsupported") and r["request"] == "features"]
        if not cands:
            return None, []
        n = max(r["n"] for r in cands)
        return n, [r for r in cands if r["n"] == n]

    def check(label, row, key, goal, fmt="{:.3g}x"):
        if row is None:
            out.append((label, "not measured", f">= {goal:g}", None))
            return
        val = row.get(key)
        if val is None:
            out.append((label, "n/a", f">= {goal:g}", None))
            return
        ok = val >= goal
        how = f"{val / goal:.2g}x the target" if goal else ""
        text = fmt.format(val) + f" ({how})"
        median = row.get(f"{key}_median")
        if median is not None:
            # the best run decides, as for the refits; the median run is shown
            text += f"; {median:.3g}x on the median of {row['unlearn_runs']} runs"
        out.append((label, text, f">= {goal:g}", ok))

    for task, est, name in (("binary", "logistic", "binary logistic"),
                            ("multinomial", "logistic", "multinomial logistic"),
                            ("regression", "ridge", "ridge")):
        n, cands = big(task, est)
        if n is None:
            continue
        d = cands[0]["d"]
        k1 = max(1, int(round(0.01 * n)))
        sizes = [(100, (250, 100, 100))]
        if k1 != 100:
            sizes.append((k1, (50, 20, 10)))
        for k, goals in sizes:
            r = next((c for c in cands if c["k"] == k), None)
            where = f"{name} n={n:g} d={d}, k={k}, 5 features zeroed"
            check(f"{where}: speed-up vs cold refit (equal accuracy)", r,
                  "speedup_cold_eq", goals[0])
            if est == "logistic":
                check(f"{where}: speed-up vs warm refit (equal accuracy)", r,
                      "speedup_warm_eq", goals[1])
            else:
                out.append((f"{where}: speed-up vs warm refit", "n/a (Ridge has no "
                            "warm start)", f">= {goals[1]}", None))
            check(f"{where}: closer to the exact optimum than no update", r,
                  "closer", goals[2])
            if k == 100:
                check(f"{where}: prediction agreement", r, "agreement", 0.999,
                      fmt="{:.5f}")
            if r is not None and r.get("fold_floor_ratio") is not None:
                # rows leave every cached matrix before the request returns:
                # the request against the products and factorisations that
                # folding them cannot avoid, timed beside it
                ratio = r["fold_floor_ratio"]
                text = f"{ratio:.3g}x"
                if r.get("t_unlearn_2nd_fresh") is not None:
                    text += (f" ({r['t_unlearn_2nd'] * 1e3:.3g} ms in a stream; on a "
                             "fresh copy each run "
                             f"{r['t_unlearn_2nd_fresh'] / r['t_fold_floor']:.3g}x)")
                out.append((f"{where}: request / floor of a sound fold "
                            f"({r['t_fold_floor'] * 1e3:.3g} ms)", text,
                            "<= 1.3x", ratio <= 1.3))
            if est == "ridge" and r is not None:
                out.append((f"{where}: exact (relative distance)",
                            f"{r['dist_2nd']:.1e}", "round-off", r["dist_2nd"] < 1e-8))
    for r in rows:
        if r.get("unsupported"):
            out.append((f"sparse text {r['dataset']} ({r['estimator']}), k=100",
                        r["note"], ">= 20x cold, <= 2 GB, >= 10x closer", False))
    text = [r for r in rows if not r.get("unsupported") and r["estimator"] == "logistic"
            and r["dataset"].startswith("hashed text") and r["k"] == 100
            and r["request"] == "delete"]
    for r in text:
        where = f"sparse text {r['dataset']}, k=100 deleted ({r['hessian']} Hessian)"
        check(f"{where}: speed-up vs cold refit (equal accuracy)", r,
              "speedup_cold_eq", 20)
        check(f"{where}: speed-up vs cold refit (default tol)", r,
              "speedup_cold_default", 20)
        peak = (r["cache_MB"] + r["peak_mem_unlearn_MB"]) / 1024
        out.append((f"{where}: peak memory (cache held + the request's own peak)",
                    f"{peak:.2f} GiB", "<= 2 GB", peak <= 2 / 1.073741824))
        check(f"{where}: closer to a tight refit than no update", r, "closer", 10)
    for o in payload.get("fit_overhead", []):
        if o["d"] > 1000:
            continue
        measured = f"{o['ratio']:.3g}x"
        floor = fit_floor(o)
        if floor is not None:
            measured += (f" (floor {floor:.3g}x: one Gram {o['t_gram']:.3g} s "
                         f"against the parent's {o['t_parent']:.3g} s)")
        out.append((f"fit {o['estimator']} on {o['dataset']} (n={o['n']:g}, "
                    f"d={o['d']}): unlearnable / parent", measured, "<= 1.5x",
                    o["ratio"] <= 1.5))
    return out


def markdown(payload):
    info = payload["machine"]
    lines = ["# Benchmark results", ""]
    lines.append(
        f"Machine: {info['cpu']}, {info['cores']} cores, {info['mem_GB']} GB; "
        f"Python {info['python']}, NumPy {info['numpy']}, SciPy {info['scipy']}, "
        f"scikit-learn {info['sklearn']}; BLAS threads {info.get('threads')}. Mode: {info['mode']} "
        f"(`{info['argv']}`), {info['seconds']:.0f} s, load average "
        f"{info['load_before'][0]:.1f} before / {info['load_after'][0]:.1f} after, "
        f"peak RSS {info['max_rss_MB']:.0f} MB.")
    lines.append("")

    lines += ["## Targets of the issue", "",
              "| target | measured | goal | pass |", "|---|---|---|---|"]
    for label, val, goal, ok in targets(payload):
        mark = "–" if ok is None else ("pass" if ok else "**miss**")
        lines.append(f"| {label} | {val} | {goal} | {mark} |")
    lines.append("")

    rule = info.get("timing", dict(min_runs=3, max_runs=50, budget_s=1.0))
    lines += ["## Unlearning against refitting", "",
              f"Times: the best of at least {rule['min_runs']} runs, more within "
              f"{rule['budget_s']:g} s (up to {rule['max_runs']}), the "
              "unlearn in ms (an edit of a dense cache: in a stream of the "
              "request and the request that undoes it on one copy, the undoing "
              "untimed; a deletion, or a low-rank cache: on a fresh copy each "
              "run), refits in s. "
              "`eq`: the parent refit at the loosest tolerance of 1e-1..1e-12 that is "
              "as close to the exact optimum as the second-order update. `x`: "
              "speed-up of the second-order update. Distances are "
              "`||theta - theta*|| / ||theta*||` to the exact corrected optimum; "
              "`closer` = no-update distance / second-order distance (floored at "
              "1e-15, round-off). `refined`: Newton iterations of `method='refined'` "
              "(time of one run). Agreement: "
              "share of equal predictions on the corrected training data (ridge: "
              "1 - relative L2 distance of the predictions). Memory: peak traced "
              "allocation in MB during the request or the refit (the cache it holds "
              "is in `cache MB`). Hashed text keeps a low-rank Hessian; its reference "
              "is scikit-learn's refit at tol=1e-10.", ""]
    head = ("| data | est | request | k | unl 2nd ms | unl 1st ms | cold s | cold-eq s "
            "(tol) | warm s | warm-eq s (tol) | x cold | x cold-eq | x warm-eq | "
            "dist 2nd | dist 1st | dist refined (ms) | dist none | closer | agree | mem unl | "
            "mem refit | cache MB |")
    lines += [head, "|" + "---|" * 22]
    for r in payload["rows"]:
        if r.get("unsupported"):
            lines.append(f"| {r['dataset']} | {r['estimator']} | all | – | "
                         f"{r['note']} | | {_f(r['t_cold_default'])} | | | | | | | | | | "
                         "| | | | |")
            continue
        warm = r.get("t_warm_default")
        lines.append(
            f"| {r['dataset']} | {r['estimator']} | {r['request']} | {r['k']} | "
            f"{_ms(r['t_unlearn_2nd'])} | {_ms(r['t_unlearn_1st'])} | "
            f"{_f(r['t_cold_default'])} | {_f(r['cold_eq_time'])} ({_tol(r, 'cold_eq')}) | "
            f"{_f(warm)} | "
            + (f"{_f(r['warm_eq_time'])} ({_tol(r, 'warm_eq')})" if warm else "–")
            + f" | {_f(r['speedup_cold_default'], '{:.3g}')} | "
            f"{_f(r['speedup_cold_eq'], '{:.3g}')} | "
            f"{_f(r.get('speedup_warm_eq'), '{:.3g}')} | "
            f"{r['dist_2nd']:.1e} | {r['dist_1st']:.1e} | "
            f"{r['dist_refined']:.1e} ({_ms(r['t_unlearn_refined'])}) | {r['dist_none']:.1e} | "
            f"{_f(r['closer'])} | {r['agreement']:.5f} | "
            f"{_f(r['peak_mem_unlearn_MB'], '{:.1f}')} | "
            f"{_f(r['peak_mem_refit_MB'], '{:.1f}')} | {_f(r.get('cache_MB'), '{:.4g}')} |")
    lines.append("")

    lines += ["## Fit-time overhead", "",
              "Unlearnable fit (parent solver, Newton polishing, Hessian cache) "
              "against the parent's fit, default parameters. Target <= 1.5x for "
              "d <= 1000. `one Gram`: one `X^T X` of the training rows, the least "
              "a dense Hessian summed over every row costs; `floor`: (parent + one "
              "Gram) / parent, the lowest ratio such a cache allows beside an "
              "iterative parent (ridge's direct solve forms that Gram itself; "
              "none for the multinomial loss, whose m outputs need m (m + 1) / 2 "
              "Grams, the squared hinge, whose Hessian sums only the rows inside "
              "the margin, or a low-rank cache).", "",
              "| data | est | n | d | parent s | unlearnable s | ratio | one Gram s "
              "| floor | cache MB |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for o in payload["fit_overhead"]:
        floor = fit_floor(o)
        lines.append(f"| {o['dataset']} | {o['estimator']} | {o['n']} | {o['d']} | "
                     f"{o['t_parent']:.3g} | {o['t_unlearnable']:.3g} | "
                     f"{o['ratio']:.3g}x | {_f(o.get('t_gram'), '{:.3g}')} | "
                     f"{_f(floor, '{:.3g}x')} | {o['cache_MB']:.3g} |")
    lines.append("")

    st = payload.get("stream")
    if st:
        t = np.array(st["times"])
        lines += ["## A stream of requests on one model", "",
                  f"Binary logistic, n={st['n']:g}, d={st['d']}: {st['count']} requests "
                  f"one after the other, each of k={st['k']} rows with 5 features "
                  "zeroed (fresh random rows and columns). The pending rows are "
                  f"folded into the factored matrices {st['folds']} times.", "",
                  "| per request | mean | median | max | total |", "|---|---|---|---|---|",
                  f"| unlearn ms | {1e3 * t.mean():.3g} | {1e3 * np.median(t):.3g} | "
                  f"{1e3 * t.max():.3g} | {1e3 * t.sum():.4g} |", "",
                  f"After the stream: distance to the exact optimum of the final data "
                  f"{st['dist']:.2e} (no update: {st['dist_none']:.2e}, "
                  f"**{st['closer']:.3g}x closer**). Cold refit of the final data: "
                  f"{st['t_cold_default']:.3g} s (default tol), "
                  f"{st['cold_eq_time']:.3g} s at equal accuracy "
                  f"({_tol(st, 'cold_eq')}): **{st['speedup_cold_eq_mean']:.3g}x** the "
                  f"mean request, {st['speedup_cold_eq_max']:.3g}x the slowest.", "",
                  "Times of the requests in order (ms): "
                  + ", ".join(f"{1e3 * x:.3g}" for x in t) + ".", ""]

    sw = payload.get("sweep")
    if sw:
        lines += ["## Growth of the unlearning cost", "",
                  "Binary logistic, features zeroed, second-order update.", ""]
        for key, other in (("k", "d"), ("d", "k")):
            pts = sw[key]
            if not pts:
                continue
            lines.append(f"Against {key} (n={pts[0]['n']}, {other}={pts[0][other]}): "
                         + ", ".join(f"{key}={p[key]}: {1e3 * p['t']:.3g} ms" for p in pts)
                         + (f". Fitted exponent for {key} >= {sw[f'exponent_{key}_from']}: "
                            f"**{sw[f'exponent_{key}']:.2f}**." if f"exponent_{key}" in sw
                            else "."))
            local = [np.log(b["t"] / a["t"]) / np.log(b[key] / a[key])
                     for a, b in zip(pts, pts[1:])]
            lines.append("Local exponents: " + ", ".join(
                f"{a[key]}->{b[key]}: {s:.2f}" for a, b, s in zip(pts, pts[1:], local))
                + ".")
            lines.append("")
    return "\n".join(lines) + "\n"


def plots(payload, out):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # the benchmark extra is not installed
        return
    rows = [r for r in payload["rows"] if not r.get("unsupported")
            and r["task"] == "binary" and r["estimator"] == "logistic"
            and r["dataset"].startswith("dense")]
    if rows:
        n_big = max(r["n"] for r in rows)
        fig, ax = plt.subplots(2, 2, figsize=(11, 8))
        for kind, c in (("features", "C0"), ("labels", "C1"), ("delete", "C2")):
            rs = sorted([r for r in rows if r["n"] == n_big and r["request"] == kind],
                        key=lambda r: r["k"])
            ks = [r["k"] for r in rs]
            ax[0, 0].loglog(ks, [r["speedup_cold_eq"] for r in rs], "o-", c=c,
                            label=f"{kind}: vs cold (eq. acc.)")
            ax[0, 0].loglog(ks, [r["speedup_warm_eq"] for r in rs], "s--", c=c,
                            label=f"{kind}: vs warm (eq. acc.)")
            ax[0, 1].loglog(ks, [r["dist_2nd"] for r in rs], "o-", c=c,
                            label=f"{kind}: second order")
            ax[0, 1].loglog(ks, [r["dist_1st"] for r in rs], "^:", c=c,
                            label=f"{kind}: first order")
            ax[0, 1].loglog(ks, [r["dist_none"] for r in rs], "x--", c=c,
                            label=f"{kind}: no update")
            for k, mk in ((100, "o-"),):
                rn = sorted([r for r in rows if r["request"] == kind and r["k"] == k],
                            key=lambda r: r["n"])
                ns = [r["n"] for r in rn]
                ax[1, 0].loglog(ns, [r["speedup_cold_eq"] for r in rn], mk, c=c,
                                label=f"{kind}, k={k}: vs cold")
                ax[1, 0].loglog(ns, [r["speedup_warm_eq"] for r in rn], "s--", c=c,
                                label=f"{kind}, k={k}: vs warm")
                ax[1, 1].loglog(ns, [r["dist_2nd"] for r in rn], mk, c=c,
                                label=f"{kind}, k={k}: second order")
                ax[1, 1].loglog(ns, [r["dist_none"] for r in rn], "x--", c=c,
                                label=f"{kind}, k={k}: no update")
        d = rows[0]["d"]
        ax[0, 0].set(title=f"speed-up, n={n_big:g}, d={d}", xlabel="k (rows)",
                     ylabel="refit time / unlearn time")
        ax[0, 1].set(title="distance to the exact optimum", xlabel="k (rows)",
                     ylabel="relative parameter distance")
        ax[1, 0].set(title=f"speed-up, k=100, d={d}", xlabel="n",
                     ylabel="refit time / unlearn time")
        ax[1, 1].set(title="distance to the exact optimum, k=100", xlabel="n",
                     ylabel="relative parameter distance")
        for a in ax.ravel():
            a.grid(True, which="both", alpha=0.3)
            a.legend(fontsize=6)
        fig.suptitle("binary logistic regression, dense synthetic data")
        fig.tight_layout()
        fig.savefig(out / "speedup_distance.png", dpi=110)
        plt.close(fig)
    sw = payload.get("sweep")
    if sw:
        fig, ax = plt.subplots(1, 2, figsize=(10, 4))
        for a, key in zip(ax, ("k", "d")):
            pts = sw[key]
            if not pts:
                continue
            a.loglog([p[key] for p in pts], [p["t"] * 1e3 for p in pts], "o-")
            title = f"unlearn time against {key}"
            if f"exponent_{key}" in sw:
                title += f" (slope {sw[f'exponent_{key}']:.2f})"
            a.set(title=title, xlabel=key, ylabel="ms")
            a.grid(True, which="both", alpha=0.3)
        fig.tight_layout()
        fig.savefig(out / "sweep.png", dpi=110)
        plt.close(fig)


def main():
    """Write ``results.md`` and the plots of a run anew from its
    ``results.json``, after a change of the report (the figures are the
    run's own)."""
    import argparse
    import json
    from pathlib import Path

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("folder", help="a folder written by run.py")
    out = Path(ap.parse_args().folder)
    payload = json.loads((out / "results.json").read_text())
    (out / "results.md").write_text(markdown(payload))
    plots(payload, out)


if __name__ == "__main__":
    main()

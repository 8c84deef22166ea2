"""The whole scan, and its findings as text."""

import re

from ._bytes import scan_serializations
from ._differences import scan_differences, scan_products, square_pool
from ._reach import scan_parallel, scan_values, walk


# -- all of it ---------------------------------------------------------------------
def scan(est, erased, *, serialize=True):
    """Every :class:`Finding` of the checks above, without duplicates."""
    reach = walk(est)
    held, alone = set(), set()
    findings = scan_values(reach, erased) + scan_parallel(reach, erased, held)
    pool = square_pool(reach, erased.d, skip=held)
    findings += scan_differences(reach, erased, pool, alone)
    findings += scan_products(reach, erased, pool, skip=alone)
    if serialize:
        findings += scan_serializations(est, erased)
    return list(dict.fromkeys(findings))


def _compact(labels):
    """``row 3 column 1``, ``row 3 column 4`` -> ``row 3 columns [1, 4]``."""
    groups = {}
    for lab in labels:
        m = re.fullmatch(r"(.*) column (\d+)(.*)", lab)
        key = (m.group(1), m.group(3)) if m else (lab, None)
        groups.setdefault(key, []).append(int(m.group(2)) if m else None)
    out = []
    for (head, tail), cols in groups.items():
        if tail is None:
            out.append(head)
        else:
            cs = sorted(set(cols))
            out.append(f"{head} column{'s' if len(cs) > 1 else ''} "
                       f"{cs if len(cs) > 1 else cs[0]}{tail}")
    return out


def report(findings, limit=25):
    """The findings as text: per check, one line per place, with every
    erased datum found there."""
    lines = []
    for check in ("bytes", "value", "parallel", "span", "difference", "product"):
        places = {}
        for f in findings:
            if f.check == check:
                # the class blocks of one difference make one place
                where = re.sub(r", (contiguous|strided) block \(\d+, \d+\)$",
                               ", in class blocks", f.where)
                places.setdefault(where, []).append(f)
        if not places:
            continue
        lines.append(f"{check}: {sum(map(len, places.values()))} finding(s) "
                     f"in {len(places)} place(s)")
        for where, fs in list(places.items())[:limit]:
            what = "; ".join(_compact(dict.fromkeys(f.erased for f in fs)))
            detail = fs[0].detail
            lines.append(f"  {where}: {what}" + (f" ({detail}{', ...' if len(fs) > 1 else ''})"
                                                 if detail else ""))
        if len(places) > limit:
            lines.append(f"  ... and {len(places) - limit} more places")
    return "\n".join(lines)

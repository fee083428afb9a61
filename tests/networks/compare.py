#!/usr/bin/python3
"""Compares the .npy outputs of a run with the reference outputs.

Usage: compare.py [--tolerance 1e-3] [--topk 5] REFERENCE_DIR OUTPUT_DIR

For every REFERENCE_DIR/<name>.npy there must be an OUTPUT_DIR/<name>.npy of
the same shape. For each pair it prints one line and checks:
  - relative error: max |out - ref| / max |ref| <= tolerance (default 1e-3);
    an all-zero reference is compared in absolute terms;
  - NaN and infinity: wherever the reference is finite, the output is too;
  - classifier outputs (floating point, last dimension >= 10, one row, e.g.
    [1, 1000] logits): the top-k classes (default 5) are the same, in order.
    Two classes whose reference scores differ by less than the tolerance
    are a tie, and either order passes.
Exit status: 0 if every output passes, 1 if any fails, 2 on a usage error.
"""
import argparse
import os
import sys

import numpy as np


def top_classes(scores, k):
    order = np.argsort(-scores, kind="stable")
    return order[:k]


def check_top_k(ref, out, k, tie):
    """Whether out ranks the same top-k classes as ref (up to ties within tie)."""
    ref_top = top_classes(ref, k)
    out_top = top_classes(out, k)
    if np.array_equal(ref_top, out_top):
        return True
    # The k-th best class of out must score, in the reference, like the k-th
    # best class of the reference does: only near-ties may trade places.
    return bool(np.all(np.abs(ref[out_top] - ref[ref_top]) <= tie))


def compare_one(name, ref, out, tolerance, k):
    """Returns (passed, line)."""
    if ref.shape != out.shape:
        return False, "%-24s FAIL shape %s, expected %s" % (name, out.shape, ref.shape)
    if ref.dtype.kind not in "fc":
        equal = np.array_equal(ref, out)
        return equal, "%-24s %s %s %s exact" % (name, "ok  " if equal else "FAIL",
                                                list(ref.shape), ref.dtype)
    ref64 = ref.astype(np.float64)
    out64 = out.astype(np.float64)
    finite = np.isfinite(ref64)
    bad = int(np.count_nonzero(finite & ~np.isfinite(out64)))
    scale = float(np.max(np.abs(ref64[finite]))) if finite.any() else 0.0
    err = float(np.max(np.abs(out64[finite] - ref64[finite]))) if finite.any() else 0.0
    relative = err / scale if scale > 0 else err
    passed = bad == 0 and relative <= tolerance
    details = "max_abs_err %.3e  max|ref| %.3e  rel %.3e (tol %.0e)" % (err, scale, relative,
                                                                     tolerance)
    if bad:
        details += "  %d non-finite outputs" % bad
    rows = int(np.prod(ref.shape[:-1])) if ref.ndim else 0
    if ref.ndim >= 1 and ref.shape[-1] >= max(10, k) and rows == 1:
        r, o = ref64.reshape(-1), out64.reshape(-1)
        same = check_top_k(r, o, k, tolerance * scale)
        details += "  top%d %s %s" % (k, "same" if same else "DIFFER", top_classes(r, k).tolist())
        if not same:
            details += " vs %s" % top_classes(o, k).tolist()
        passed = passed and same
    line = "%-24s %s %-12s %s" % (name, "ok  " if passed else "FAIL",
                                  "x".join(map(str, ref.shape)), details)
    return passed, line


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("reference_dir")
    parser.add_argument("output_dir")
    parser.add_argument("--tolerance", type=float, default=1e-3,
                        help="max error relative to max |reference| (default 1e-3)")
    parser.add_argument("--topk", type=int, default=5, help="classes compared (default 5)")
    args = parser.parse_args()

    if not os.path.isdir(args.reference_dir):
        print("compare.py: no reference directory %s" % args.reference_dir, file=sys.stderr)
        return 2
    names = sorted(f[:-4] for f in os.listdir(args.reference_dir) if f.endswith(".npy"))
    if not names:
        print("compare.py: no .npy files in %s" % args.reference_dir, file=sys.stderr)
        return 2
    failed = 0
    for name in names:
        ref = np.load(os.path.join(args.reference_dir, name + ".npy"))
        out_path = os.path.join(args.output_dir, name + ".npy")
        if not os.path.exists(out_path):
            print("%-24s FAIL missing %s" % (name, out_path))
            failed += 1
            continue
        try:
            out = np.load(out_path)
        except Exception as e:  # a broken file is a failure of the run, not of this script
            print("%-24s FAIL cannot read %s: %s" % (name, out_path, e))
            failed += 1
            continue
        passed, line = compare_one(name, ref, out, args.tolerance, args.topk)
        print(line)
        failed += not passed
    print("%d passed, %d failed" % (len(names) - failed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

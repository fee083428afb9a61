#!/usr/bin/python3
"""check_einsum.py: ledge's Einsum against numpy.einsum on equations the
conformance suite lacks (attention shapes, broadcasting '...', implicit
outputs, three operands, repeated labels). Usage: check_einsum.py LEDGE WORK_DIR"""
import os
import subprocess
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper

CASES = [
    ("bhqd,bhkd->bhqk", [(1, 2, 3, 4), (1, 2, 5, 4)]),
    ("bhqk,bhkd->bhqd", [(2, 2, 3, 5), (2, 2, 5, 4)]),
    ("...ij,...jk->...ik", [(2, 3, 4, 5), (3, 5, 2)]),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 5)]),
    ("ij,kj", [(3, 4), (5, 4)]),
    ("ii->i", [(4, 4)]),
    ("bij->bji", [(2, 3, 4)]),
    ("i,j->ij", [(3,), (4,)]),
    ("bii->b", [(2, 3, 3)]),
]


def main():
    ledge, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    rng = np.random.default_rng(3)
    passed = failed = 0
    for n, (eq, shapes) in enumerate(CASES):
        xs = [rng.standard_normal(s).astype(np.float32) for s in shapes]
        want = np.einsum(eq, *xs)
        names = ["x%d" % i for i in range(len(xs))]
        node = helper.make_node("Einsum", names, ["y"], equation=eq)
        graph = helper.make_graph(
            [node], "einsum",
            [helper.make_tensor_value_info(nm, TensorProto.FLOAT, list(x.shape)) for nm, x in zip(names, xs)],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
        path = os.path.join(work, "einsum%d.onnx" % n)
        onnx.save(model, path)
        args = [ledge, "run", path, "--output-dir", os.path.join(work, "out%d" % n)]
        for nm, x in zip(names, xs):
            np.save(os.path.join(work, "%s_%d.npy" % (nm, n)), x)
            args += ["--input", "%s=%s" % (nm, os.path.join(work, "%s_%d.npy" % (nm, n)))]
        run = subprocess.run(args, capture_output=True, text=True)
        if run.returncode != 0:
            print("FAIL %-22s %s" % (eq, run.stderr.strip()))
            failed += 1
            continue
        got = np.load(os.path.join(work, "out%d" % n, "y.npy"))
        ok = got.shape == want.shape and np.allclose(got, want, rtol=1e-5, atol=1e-5)
        err = float(np.max(np.abs(got - want))) if got.shape == want.shape else float("inf")
        print("%s %-22s shape %-14s max_abs_err %.3g" % ("ok  " if ok else "FAIL", eq, str(got.shape), err))
        passed += ok
        failed += not ok
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

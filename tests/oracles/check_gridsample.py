#!/usr/bin/python3
"""check_gridsample.py: ledge's GridSample against PyTorch's grid_sample over
every mode x padding x align_corners combination, with grid points inside,
on and beyond the borders. Usage: check_gridsample.py LEDGE WORK_DIR"""
import itertools
import os
import subprocess
import sys
import warnings

import numpy as np
import torch


class Sample(torch.nn.Module):
    def __init__(self, mode, padding, align):
        super().__init__()
        self.args = dict(mode=mode, padding_mode=padding, align_corners=align)

    def forward(self, x, grid):
        return torch.nn.functional.grid_sample(x, grid, **self.args)


def main():
    warnings.simplefilter("ignore")
    ledge, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    torch.manual_seed(5)
    x = torch.randn(2, 3, 5, 7)
    grid = torch.rand(2, 4, 6, 2) * 3.2 - 1.6  # reaches past [-1, 1]
    np.save(os.path.join(work, "x.npy"), x.numpy())
    np.save(os.path.join(work, "grid.npy"), grid.numpy())
    passed = failed = 0
    for mode, padding, align in itertools.product(["bilinear", "nearest", "bicubic"],
                                                  ["zeros", "border", "reflection"], [False, True]):
        name = "%s_%s_%d" % (mode, padding, align)
        model = Sample(mode, padding, align)
        with torch.no_grad():
            want = model(x, grid).numpy()
        path = os.path.join(work, name + ".onnx")
        torch.onnx.export(model, (x, grid), path, input_names=["x", "grid"], output_names=["y"], opset_version=16)
        out = os.path.join(work, name)
        run = subprocess.run([ledge, "run", path, "--input", "x=" + os.path.join(work, "x.npy"),
                              "--input", "grid=" + os.path.join(work, "grid.npy"), "--output-dir", out],
                             capture_output=True, text=True)
        if run.returncode != 0:
            print("FAIL %-28s %s" % (name, run.stderr.strip()))
            failed += 1
            continue
        got = np.load(os.path.join(out, "y.npy"))
        err = float(np.max(np.abs(got - want)))
        ok = got.shape == want.shape and err <= 1e-4
        print("%s %-28s max_abs_err %.3g" % ("ok  " if ok else "FAIL", name, err))
        passed += ok
        failed += not ok
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

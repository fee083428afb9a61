#!/usr/bin/python3
"""check_recurrent.py: ledge's RNN, GRU and LSTM against PyTorch.

The ONNX conformance cases cover one direction only; this exports small
PyTorch recurrent models that exercise what they miss (bidirectional, two
stacked layers, batch_first layout, GRU with linear_before_reset as
PyTorch exports it, tanh and relu RNNs), runs each with `ledge run` and
compares every output with PyTorch's own (max abs error <= 1e-4 of the
output's scale).

Usage: check_recurrent.py LEDGE_BINARY WORK_DIR
"""
import os
import subprocess
import sys
import warnings

import numpy as np
import torch


class Wrap(torch.nn.Module):
    def __init__(self, rnn):
        super().__init__()
        self.rnn = rnn

    def forward(self, x):
        y, state = self.rnn(x)
        if isinstance(state, tuple):
            return y, state[0], state[1]
        return y, state


def cases():
    torch.manual_seed(7)
    yield "lstm_bidirectional", torch.nn.LSTM(5, 8, bidirectional=True), (6, 3, 5)
    yield "lstm_two_layers_batch_first", torch.nn.LSTM(4, 6, num_layers=2, batch_first=True), (2, 7, 4)
    yield "gru_bidirectional", torch.nn.GRU(5, 7, bidirectional=True), (4, 2, 5)
    yield "gru_two_layers", torch.nn.GRU(3, 4, num_layers=2), (5, 1, 3)
    yield "rnn_tanh_bidirectional", torch.nn.RNN(4, 6, bidirectional=True), (5, 2, 4)
    yield "rnn_relu", torch.nn.RNN(4, 6, nonlinearity="relu"), (5, 2, 4)


def main():
    warnings.simplefilter("ignore")
    ledge, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    failures = passed = 0
    for name, rnn, shape in cases():
        model = Wrap(rnn).eval()
        x = torch.randn(*shape)
        with torch.no_grad():
            want = model(x)
        path = os.path.join(work, name + ".onnx")
        names = ["y", "h", "c"][: len(want)]
        torch.onnx.export(model, (x,), path, input_names=["x"], output_names=names, opset_version=14)
        np.save(os.path.join(work, name + "_x.npy"), x.numpy())
        out_dir = os.path.join(work, name + "_out")
        run = subprocess.run([ledge, "run", path, "--input", "x=" + os.path.join(work, name + "_x.npy"),
                              "--output-dir", out_dir], capture_output=True, text=True)
        if run.returncode != 0:
            print("FAIL %-30s ledge run: %s" % (name, run.stderr.strip()))
            failures += 1
            continue
        for out_name, ref in zip(names, want):
            got = np.load(os.path.join(out_dir, out_name + ".npy"))
            ref = ref.numpy()
            err = float(np.max(np.abs(got - ref))) if got.shape == ref.shape else float("inf")
            scale = float(np.max(np.abs(ref))) or 1.0
            ok = got.shape == ref.shape and err <= 1e-4 * scale
            failures += not ok
            passed += ok
            print("%s %-30s %-2s shape %-14s max_abs_err %.3g (scale %.3g)"
                  % ("ok  " if ok else "FAIL", name, out_name, str(got.shape), err, scale))
    print("%d passed, %d failed" % (passed, failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

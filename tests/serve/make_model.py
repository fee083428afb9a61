#!/usr/bin/python3
"""Writes the small classifiers the serve tests use (deterministic weights).

  make_model.py OUT_DIR

tiny.onnx:      input [1, 3, 32, 32] float32 -> Conv 3x3 (8) -> Relu -> GlobalAveragePool
                -> Flatten -> Gemm (10) -> logits [1, 10]; sidecar tiny.json (resize 36, crop 32,
                ImageNet mean/std, labels).
tiny_dyn.onnx:  the same with a dynamic batch dimension ("N"), for dynamic batching.
tiny_v2.onnx:   tiny.onnx with other weights (a new version for hot swap).
Also writes cat.jpg and cat.png (skimage's chelsea) and labels.txt.
"""
import json
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def model(path, seed, batch):
    rng = np.random.default_rng(seed)
    w = (rng.standard_normal((8, 3, 3, 3)) * 0.5).astype(np.float32)
    b = (rng.standard_normal(8) * 0.1).astype(np.float32)
    fw = (rng.standard_normal((10, 8)) * 0.5).astype(np.float32)
    fb = (rng.standard_normal(10) * 0.1).astype(np.float32)
    nodes = [
        helper.make_node("Conv", ["input", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("GlobalAveragePool", ["r"], ["g"]),
        helper.make_node("Flatten", ["g"], ["f"]),
        helper.make_node("Gemm", ["f", "fw", "fb"], ["logits"], transB=1),
    ]
    graph = helper.make_graph(
        nodes, "tiny",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [batch, 3, 32, 32])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [batch, 10])],
        [numpy_helper.from_array(x, n) for x, n in ((w, "w"), (b, "b"), (fw, "fw"), (fb, "fb"))])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="ledge-tests")
    m.ir_version = 8
    onnx.checker.check_model(m)
    onnx.save(m, path)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    model(os.path.join(out, "tiny.onnx"), 1, 1)
    model(os.path.join(out, "tiny_dyn.onnx"), 1, "N")
    model(os.path.join(out, "tiny_v2.onnx"), 2, 1)
    labels = ["normal", "texting_right", "phone_right", "texting_left", "phone_left",
              "radio", "drinking", "reaching_behind", "hair_makeup", "talking"]
    side = {"resize": 36, "size": 32, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225],
            "labels": labels}
    for name in ("tiny", "tiny_dyn", "tiny_v2"):
        with open(os.path.join(out, name + ".json"), "w") as f:
            json.dump(side, f)
    with open(os.path.join(out, "labels.txt"), "w") as f:
        f.write("\n".join(labels) + "\n")
    from PIL import Image
    src = "/usr/lib/python3/dist-packages/skimage/data/chelsea.png"
    img = Image.open(src).convert("RGB")
    img.save(os.path.join(out, "cat.png"))
    img.save(os.path.join(out, "cat.jpg"), quality=90)


if __name__ == "__main__":
    main()

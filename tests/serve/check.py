#!/usr/bin/python3
"""Checks for the serve tests: compare server answers with `ledge run` outputs.

  check.py probs RESPONSE.json REF.npy              list of probabilities == softmax(REF)
  check.py predictions RESPONSE.json REF.npy        {"predictions": [[...]]} == softmax(REF)
  check.py topk RESPONSE.json REF.npy K LABELS      labelled top-K, in order
  check.py npy_equal A.npy B.npy                    bit-identical arrays
  check.py close A.npy B.npy TOL                    max abs diff <= TOL and same argmax
  check.py preprocess IMAGE OUT.npy RESIZE CROP     the reference preprocessing (PIL decode,
                                                    half-pixel bilinear, center crop, ImageNet
                                                    mean/std), written with numpy independently
  check.py instances X.npy OUT.json                 {"instances": X.tolist()}
"""
import json
import sys

import numpy as np


def softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def bilinear(img, w, h):
    sh, sw = img.shape[:2]

    def taps(src, dst):
        s = (np.arange(dst) + 0.5) * (src / dst) - 0.5
        s = np.clip(s, 0, None)
        i0 = np.minimum(s.astype(np.int64), src - 1)
        i1 = np.minimum(i0 + 1, src - 1)
        return i0, i1, (s - i0).astype(np.float32)

    x0, x1, wx = taps(sw, w)
    y0, y1, wy = taps(sh, h)
    f = img.astype(np.float32)
    top = f[y0][:, x0] + (f[y0][:, x1] - f[y0][:, x0]) * wx[None, :, None]
    bot = f[y1][:, x0] + (f[y1][:, x1] - f[y1][:, x0]) * wx[None, :, None]
    v = top + (bot - top) * wy[:, None, None]
    return np.clip(np.rint(v), 0, 255).astype(np.uint8)


def main():
    cmd = sys.argv[1]
    a = sys.argv[2:]
    if cmd in ("probs", "predictions", "topk"):
        got = json.load(open(a[0]))
        ref = softmax(np.load(a[1]).astype(np.float64))
        if cmd == "probs":
            got = np.array(got)
            assert got.shape == ref.reshape(-1).shape, (got.shape, ref.shape)
            assert np.abs(got - ref.reshape(-1)).max() < 1e-5, np.abs(got - ref.reshape(-1)).max()
        elif cmd == "predictions":
            got = np.array(got["predictions"])
            assert got.shape == ref.shape, (got.shape, ref.shape)
            assert np.abs(got - ref).max() < 1e-5
        else:
            k = int(a[2])
            labels = open(a[3]).read().split("\n")
            order = np.argsort(-ref.reshape(-1), kind="stable")[:k]
            assert len(got) == k, got
            for g, i in zip(got, order):
                assert g["index"] == i and g["label"] == labels[i], (g, i)
                assert abs(g["probability"] - ref.reshape(-1)[i]) < 1e-5
    elif cmd == "npy_equal":
        x, y = np.load(a[0]), np.load(a[1])
        assert x.dtype == y.dtype and x.shape == y.shape and np.array_equal(x, y), (x, y)
    elif cmd == "close":
        x, y = np.load(a[0]).astype(np.float64), np.load(a[1]).astype(np.float64)
        assert x.shape == y.shape, (x.shape, y.shape)
        d = np.abs(x - y).max()
        assert d <= float(a[2]), d
        assert x.reshape(-1).argmax() == y.reshape(-1).argmax()
    elif cmd == "preprocess":
        from PIL import Image
        img = np.asarray(Image.open(a[0]).convert("RGB"))
        resize, crop = int(a[2]), int(a[3])
        h, w = img.shape[:2]
        if w <= h:
            nw, nh = resize, resize * h // w
        else:
            nh, nw = resize, resize * w // h
        r = bilinear(img, nw, nh)
        top, left = (nh - crop) // 2, (nw - crop) // 2
        c = r[top:top + crop, left:left + crop].astype(np.float32)
        mean = np.array([0.485, 0.456, 0.406], np.float32)
        std = np.array([0.229, 0.224, 0.225], np.float32)
        x = (c * np.float32(1 / 255) - mean) / std
        np.save(a[1], x.transpose(2, 0, 1)[None].astype(np.float32))
    elif cmd == "instances":
        x = np.load(a[0])
        json.dump({"instances": x.tolist()}, open(a[1], "w"))
    else:
        sys.exit("unknown check " + cmd)


if __name__ == "__main__":
    main()

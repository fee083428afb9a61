#!/usr/bin/python3
"""Reference outputs for tests/media/test_media_transform.c, made at test time
with PIL, PyTorch and torchvision (Debian's python3-pil, python3-torch,
python3-torchvision) from real images nobody here made.

usage: make_refs.py OUTDIR IMAGE...

For each IMAGE (named by its file stem) it writes into OUTDIR:
  STEM.decoded.npy       PIL's RGB decode, uint8 HWC
  STEM.gray.npy          PIL convert("L"), uint8 HW
  STEM.METHOD.npy        float32 HWC resizes to 224x160 (shrink) and 700x610
  STEM.METHOD.up.npy     (enlarge) of the decoded image:
     bilinear        torch interpolate bilinear, align_corners=False
     bilinear-align  torch interpolate bilinear, align_corners=True
     bilinear-aa     torch interpolate bilinear, antialias=True
     area-adaptive   torch interpolate area
     nearest         torch interpolate nearest
     nearest-exact   torch interpolate nearest-exact
     bilinear-tf1    numpy: TF1 resize_bilinear defaults (src = dst * in/out)
     area            numpy: TF resize_area (fractional box coverage)
  STEM.pil-aa.npy        PIL resize(224x160, BILINEAR), uint8 HWC
  STEM.classify.npy      torchvision Resize(256), CenterCrop(224), ToTensor,
                         Normalize(ImageNet mean/std): float32 CHW
  STEM.car.npy           numpy: TF crop_and_resize of box (0.1,0.2,0.7,0.9)
                         to 96x64 (float32 HWC)
"""
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torchvision import transforms

SHRINK = (160, 224)  # (height, width)
ENLARGE = (610, 700)


def tf1_bilinear(img, oh, ow):
    h, w, _ = img.shape
    img = img.astype(np.float64)

    def axis(n_in, n_out):
        s = np.arange(n_out) * (n_in / n_out)
        i0 = np.floor(s).astype(int)
        i1 = np.minimum(i0 + 1, n_in - 1)
        return i0, i1, s - i0

    y0, y1, fy = axis(h, oh)
    x0, x1, fx = axis(w, ow)
    top = img[y0][:, x0] * (1 - fx)[None, :, None] + img[y0][:, x1] * fx[None, :, None]
    bot = img[y1][:, x0] * (1 - fx)[None, :, None] + img[y1][:, x1] * fx[None, :, None]
    return top * (1 - fy)[:, None, None] + bot * fy[:, None, None]


def tf_area(img, oh, ow):
    h, w, _ = img.shape

    def matrix(n_in, n_out):
        m = np.zeros((n_out, n_in))
        scale = n_in / n_out
        for i in range(n_out):
            lo, hi = i * scale, (i + 1) * scale
            for j in range(int(np.floor(lo)), min(int(np.ceil(hi)), n_in)):
                m[i, j] = min(hi, j + 1) - max(lo, j)
            m[i] /= m[i].sum()
        return m

    my, mx = matrix(h, oh), matrix(w, ow)
    img = img.astype(np.float64)
    return np.stack([my @ img[:, :, c] @ mx.T for c in range(img.shape[2])], axis=2)


def tf_crop_and_resize(img, box, ch, cw):
    h, w, c = img.shape
    y1, x1, y2, x2 = box
    out = np.zeros((ch, cw, c))
    img = img.astype(np.float64)
    for i in range(ch):
        iy = y1 * (h - 1) + i * (y2 - y1) * (h - 1) / (ch - 1)
        if iy < 0 or iy > h - 1:
            continue
        t, b = int(np.floor(iy)), int(np.ceil(iy))
        ly = iy - t
        for j in range(cw):
            ix = x1 * (w - 1) + j * (x2 - x1) * (w - 1) / (cw - 1)
            if ix < 0 or ix > w - 1:
                continue
            l, r = int(np.floor(ix)), int(np.ceil(ix))
            lx = ix - l
            top = img[t, l] + (img[t, r] - img[t, l]) * lx
            bot = img[b, l] + (img[b, r] - img[b, l]) * lx
            out[i, j] = top + (bot - top) * ly
    return out


def torch_resize(img, size, **kw):
    x = torch.from_numpy(img.copy()).permute(2, 0, 1)[None].double()
    y = F.interpolate(x, size=size, **kw)
    return y[0].permute(1, 2, 0).numpy()


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for path in sys.argv[2:]:
        stem = os.path.splitext(os.path.basename(path))[0]
        pil = Image.open(path).convert("RGB")
        img = np.asarray(pil)
        save = lambda name, a: np.save(os.path.join(out, f"{stem}.{name}.npy"), a)
        save("decoded", img)
        save("gray", np.asarray(pil.convert("L")))
        for suffix, size in (("", SHRINK), (".up", ENLARGE)):
            refs = {
                "bilinear": torch_resize(img, size, mode="bilinear", align_corners=False),
                "bilinear-align": torch_resize(img, size, mode="bilinear", align_corners=True),
                "bilinear-aa": torch_resize(img, size, mode="bilinear", align_corners=False, antialias=True),
                "area-adaptive": torch_resize(img, size, mode="area"),
                "nearest": torch_resize(img, size, mode="nearest"),
                "nearest-exact": torch_resize(img, size, mode="nearest-exact"),
                "bilinear-tf1": tf1_bilinear(img, *size),
                "area": tf_area(img, *size),
            }
            for name, a in refs.items():
                save(name + suffix, a.astype(np.float32))
        save("pil-aa", np.asarray(pil.resize((SHRINK[1], SHRINK[0]), Image.BILINEAR)))
        pre = transforms.Compose([
            transforms.Resize(256),
            transforms.CenterCrop(224),
            transforms.ToTensor(),
            transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
        ])
        save("classify", pre(pil).numpy().astype(np.float32))
        save("car", tf_crop_and_resize(img, (0.1, 0.2, 0.7, 0.9), 64, 96).astype(np.float32))


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Exports the real-network test models to ONNX, with a fixed input for each.

Run with Debian's interpreter (/usr/bin/python3: python3-torch 1.13,
python3-torchvision 0.14). No weights are downloaded: every network is built
with random weights (weights=None) from a fixed seed, so the files are the
same on every machine that runs the same torch build.

Untrained networks make poor test subjects as they come out of their
constructors: with BatchNorm's default running statistics (mean 0, variance
1) activations shrink or explode layer after layer (mobilenet_v2's logits are
about 1e-9, resnet50's about 100), and the logits of the 1000 classes are
nearly tied, so a top-5 comparison would test rounding noise. Two steps make
them behave like trained networks, numerically:

 1. BatchNorm calibration: the running statistics of every BatchNorm layer
    are re-estimated in train mode over a few batches of seeded noise images
    (cumulative average), so each layer sees normalized activations in eval
    mode, as in a trained network.
 2. Classifier scaling: the weights and bias of the last classifier layer
    (Linear, or squeezenet's final 1x1 Conv) are scaled so that the logits of
    the calibration images have a standard deviation of LOGIT_STD across
    classes. The top logits are then separated by a sizeable fraction of
    their magnitude, far above float32 accumulation noise.

Outputs, under the cache directory (default <repo>/.cache/networks, or
$LEDGE_CACHE, or --cache):
    models/<name>.onnx   opset 13, batch 1, input "input", output "logits"
    inputs/<name>.npy    float32 [1,3,H,W], seeded standard normal noise
                         (what a normalized image looks like to the network)
Models already exported are skipped (use --force to redo them).

Usage: export_models.py [--cache DIR] [--force] [--list] [NAME ...]
"""
import argparse
import os
import sys
import time
import warnings

import numpy as np

# name -> (constructor keyword arguments, input side in pixels)
NETWORKS = {
    "resnet18": ({}, 224),
    "resnet50": ({}, 224),
    "mobilenet_v2": ({}, 224),
    "mobilenet_v3_small": ({}, 224),
    "squeezenet1_1": ({}, 224),
    "efficientnet_b0": ({}, 224),
    "inception_v3": ({"aux_logits": False, "init_weights": True}, 299),
    "densenet121": ({}, 224),
    "shufflenet_v2_x1_0": ({}, 224),
}

OPSET = 13
SEED = 20240611
LOGIT_STD = 4.0
CALIBRATION_BATCHES = 4
CALIBRATION_BATCH_SIZE = 4


def default_cache_dir():
    if os.environ.get("LEDGE_CACHE"):
        return os.environ["LEDGE_CACHE"]
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return os.path.join(repo, ".cache", "networks")


def fixed_input(name, side):
    """The network's test input: seeded N(0,1) noise, one seed per network."""
    rng = np.random.default_rng([SEED, sum(name.encode())])
    return rng.standard_normal((1, 3, side, side)).astype(np.float32)


def last_classifier(torch, model):
    """The last Linear layer, or else the last Conv2d (squeezenet's classifier)."""
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    if linears:
        return linears[-1]
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    return convs[-1]


def build(torch, torchvision, name):
    kwargs, side = NETWORKS[name]
    torch.manual_seed(SEED)
    model = getattr(torchvision.models, name)(weights=None, **kwargs)

    # 1. BatchNorm calibration on seeded noise (cumulative average of the batch statistics).
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for bn in norms:
        bn.reset_running_stats()
        bn.momentum = None
    generator = torch.Generator().manual_seed(SEED + 1)
    batches = [torch.randn(CALIBRATION_BATCH_SIZE, 3, side, side, generator=generator)
               for _ in range(CALIBRATION_BATCHES)]
    model.train()
    with torch.no_grad():
        for batch in batches:
            model(batch)
    model.eval()

    # 2. Scale the classifier so the logits are well separated.
    with torch.no_grad():
        logits = torch.cat([model(batch) for batch in batches])
        spread = float(logits.std(dim=1).mean())
        if spread > 0:
            head = last_classifier(torch, model)
            head.weight.mul_(LOGIT_STD / spread)
            if head.bias is not None:
                head.bias.mul_(LOGIT_STD / spread)
    return model, side


def export(torch, torchvision, name, cache, force):
    model_path = os.path.join(cache, "models", name + ".onnx")
    input_path = os.path.join(cache, "inputs", name + ".npy")
    if not force and os.path.exists(model_path) and os.path.exists(input_path):
        print("%-20s cached  %s" % (name, model_path))
        return True
    start = time.time()
    model, side = build(torch, torchvision, name)
    x = fixed_input(name, side)
    os.makedirs(os.path.dirname(model_path), exist_ok=True)
    os.makedirs(os.path.dirname(input_path), exist_ok=True)
    # Write to temporary names and rename, so an interrupted run never leaves
    # a half-written file that a later run would take as cached.
    with torch.no_grad():
        torch.onnx.export(model, torch.from_numpy(x), model_path + ".tmp", opset_version=OPSET,
                          input_names=["input"], output_names=["logits"],
                          do_constant_folding=True)
    np.save(input_path + ".tmp.npy", x)
    import onnx
    onnx.checker.check_model(model_path + ".tmp")
    os.replace(input_path + ".tmp.npy", input_path)
    os.replace(model_path + ".tmp", model_path)
    size = os.path.getsize(model_path)
    print("%-20s %6.1f MB  %5.1f s  %s" % (name, size / 1e6, time.time() - start, model_path))
    return True


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cache", default=default_cache_dir(), help="cache directory")
    parser.add_argument("--force", action="store_true", help="export again even if cached")
    parser.add_argument("--list", action="store_true", help="print the network names and exit")
    parser.add_argument("names", nargs="*", help="networks to export (default: all)")
    args = parser.parse_args()
    if args.list:
        print("\n".join(NETWORKS))
        return 0
    names = args.names or list(NETWORKS)
    unknown = [n for n in names if n not in NETWORKS]
    if unknown:
        print("export_models.py: unknown network(s): %s (known: %s)"
              % (", ".join(unknown), ", ".join(NETWORKS)), file=sys.stderr)
        return 2

    warnings.filterwarnings("ignore")  # torch.onnx's TracerWarnings say nothing useful here
    import torch
    import torchvision
    torch.set_num_threads(os.cpu_count() or 1)

    failed = []
    for name in names:
        try:
            export(torch, torchvision, name, args.cache, args.force)
        except Exception as e:  # report every network, then fail
            print("%-20s FAILED: %s: %s" % (name, type(e).__name__, e), file=sys.stderr)
            failed.append(name)
    if failed:
        print("export_models.py: failed: %s" % ", ".join(failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""Checks models that ledge wrote as ONNX with tools nobody here wrote:
the onnx checker (python3-onnx) and ONNX Runtime (onnxruntime-node).

  check_onnx_write.py suite MIRROR_DIR TESTDATA_DIR WORK_DIR
      MIRROR_DIR holds <group>/<case>/model.onnx, the conformance models
      rewritten by ledge (test_onnx_write --mirror). Wherever the onnx
      checker accepts the original, it must accept the rewritten model;
      wherever ONNX Runtime runs the original on the case's inputs, it must
      run the rewritten one and give the same outputs.
  check_onnx_write.py model LEDGE MODEL INPUT_NAME INPUT.npy REFERENCE_DIR WORK_DIR
      `ledge convert` any model ledge reads (e.g. a TF.js model.json) to
      ONNX; the checker must accept it and ONNX Runtime must give on it the
      reference outputs (REFERENCE_DIR/<output>.npy, e.g. TF.js's) within
      1e-3 of each output's scale.
  check_onnx_write.py networks LEDGE CACHE WORK_DIR NAME...
      `ledge convert` each exported torchvision network (CACHE/models) to
      ONNX; the checker must accept it, and ONNX Runtime must give on it the
      outputs it gives on the original (CACHE/reference).
Exit status 0 if everything agrees, 1 otherwise.
"""
import json
import os
import subprocess
import sys

import numpy as np
import onnx
from onnx import numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
NODE = os.environ.get("LEDGE_NODE", "node")

NP_TO_ORT = {
    np.float32: "float32", np.float64: "float64", np.int8: "int8", np.int16: "int16",
    np.int32: "int32", np.int64: "int64", np.uint8: "uint8", np.uint16: "uint16",
    np.uint32: "uint32", np.uint64: "uint64", np.bool_: "bool", np.float16: "float16",
}
ORT_TO_NP = {v: k for k, v in NP_TO_ORT.items()}


def checker_ok(path):
    try:
        onnx.checker.check_model(onnx.load(path))
        return None
    except Exception as e:  # the checker's own errors and protobuf's
        return str(e).splitlines()[0] if str(e) else type(e).__name__


def input_spec(name, array, file):
    array = np.ascontiguousarray(array)
    array.tofile(file)
    return {"name": name, "type": NP_TO_ORT[array.dtype.type], "dims": list(array.shape), "file": file}


def run_ort(jobs, work):
    manifest = os.path.join(work, "manifest.json")
    with open(manifest, "w") as f:
        json.dump(jobs, f)
    subprocess.run([NODE, os.path.join(HERE, "ort_run.js"), manifest], check=True)


def read_result(out_dir):
    with open(os.path.join(out_dir, "result.json")) as f:
        result = json.load(f)
    if "error" in result:
        return result["error"]
    arrays = []
    for o in result["outputs"]:
        a = np.fromfile(o["file"], dtype=ORT_TO_NP[o["type"]]).reshape(o["dims"])
        arrays.append((o["name"], a))
    return arrays


def same(a, b):
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.dtype.kind == "f":
        return bool(np.allclose(a, b, rtol=1e-6, atol=1e-7, equal_nan=True))
    return bool(np.array_equal(a, b))


def suite(mirror, testdata, work):
    failures, checked, ran, jobs, cases = [], 0, 0, [], []
    for group in sorted(os.listdir(mirror)):
        for case in sorted(os.listdir(os.path.join(mirror, group))):
            rewritten = os.path.join(mirror, group, case, "model.onnx")
            original = os.path.join(testdata, group, case, "model.onnx")
            if not os.path.exists(rewritten):
                continue
            if checker_ok(original) is None:
                checked += 1
                err = checker_ok(rewritten)
                if err:
                    failures.append(f"{group}/{case}: the checker rejects the rewritten model: {err}")
            model = onnx.load(original)
            inits = {i.name for i in model.graph.initializer}
            names = [i.name for i in model.graph.input if i.name not in inits]
            data_dir = os.path.join(testdata, group, case, "test_data_set_0")
            files = sorted(f for f in os.listdir(data_dir) if f.startswith("input_")) if os.path.isdir(data_dir) else []
            if len(files) != len(names):
                continue
            case_work = os.path.join(work, group, case)
            os.makedirs(case_work, exist_ok=True)
            inputs = []
            try:
                for k, f in enumerate(sorted(files, key=lambda s: int(s[6:-3]))):
                    t = onnx.TensorProto()
                    with open(os.path.join(data_dir, f), "rb") as fh:
                        t.ParseFromString(fh.read())
                    a = numpy_helper.to_array(t)
                    if a.dtype.type not in NP_TO_ORT:
                        raise TypeError(a.dtype)
                    inputs.append(input_spec(names[k], a, os.path.join(case_work, f"in{k}.bin")))
            except (TypeError, ValueError):
                continue
            for which, path in (("orig", original), ("new", rewritten)):
                jobs.append({"model": path, "inputs": inputs, "out": os.path.join(case_work, which)})
            cases.append((f"{group}/{case}", case_work))
    run_ort(jobs, work)
    for name, case_work in cases:
        orig = read_result(os.path.join(case_work, "orig"))
        new = read_result(os.path.join(case_work, "new"))
        if isinstance(orig, str):
            continue  # ONNX Runtime cannot run the original either
        ran += 1
        if isinstance(new, str):
            failures.append(f"{name}: ONNX Runtime runs the original but not the rewritten model: {new}")
            continue
        if len(orig) != len(new) or any(not same(a, b) for (_, a), (_, b) in zip(orig, new)):
            failures.append(f"{name}: ONNX Runtime gives different outputs on the rewritten model")
    for f in failures:
        print("FAIL", f)
    print(f"onnx checker: {checked} originals accepted, rewritten models checked; "
          f"ONNX Runtime: {ran} cases run on both; {len(failures)} failures")
    return 1 if failures or checked < 500 or ran < 500 else 0


def networks(ledge, cache, work, names):
    failures = []
    os.makedirs(work, exist_ok=True)
    jobs = []
    for name in names:
        out = os.path.join(work, name + ".onnx")
        r = subprocess.run([ledge, "convert", os.path.join(cache, "models", name + ".onnx"), out, "--json"],
                           capture_output=True, text=True)
        if r.returncode != 0:
            failures.append(f"{name}: ledge convert failed: {r.stderr.strip()}")
            continue
        print(r.stdout.strip())
        err = checker_ok(out)
        if err:
            failures.append(f"{name}: the checker rejects the converted model: {err}")
        inp = np.load(os.path.join(cache, "inputs", name + ".npy"))
        m = onnx.load(out, load_external_data=False)
        spec = input_spec(m.graph.input[0].name, inp, os.path.join(work, name + ".in.bin"))
        # The references were made with every ORT optimization on: so here too.
        jobs.append({"model": out, "inputs": [spec], "out": os.path.join(work, name), "optimization": "all"})
    run_ort(jobs, work)
    for job in jobs:
        name = os.path.basename(job["out"])
        got = read_result(job["out"])
        if isinstance(got, str):
            failures.append(f"{name}: ONNX Runtime cannot run the converted model: {got}")
            continue
        for out_name, a in got:
            ref = np.load(os.path.join(cache, "reference", name, out_name + ".npy"))
            err = float(np.max(np.abs(a.astype(np.float64) - ref))) / max(float(np.max(np.abs(ref))), 1e-30)
            print(f"{name}: {out_name} {list(a.shape)} relative error vs ONNX Runtime on the original: {err:.2e}")
            if a.shape != ref.shape or not err <= 1e-6:
                failures.append(f"{name}: output {out_name} differs (relative error {err:.2e})")
    for f in failures:
        print("FAIL", f)
    return 1 if failures else 0


def one_model(ledge, model, input_name, input_npy, reference, work):
    os.makedirs(work, exist_ok=True)
    out = os.path.join(work, "model.onnx")
    r = subprocess.run([ledge, "convert", model, out, "--json"], capture_output=True, text=True)
    if r.returncode != 0:
        print("FAIL ledge convert:", r.stderr.strip())
        return 1
    print(r.stdout.strip())
    failures = []
    err = checker_ok(out)
    if err:
        failures.append(f"the checker rejects the converted model: {err}")
    spec = input_spec(input_name, np.load(input_npy), os.path.join(work, "input.bin"))
    run_ort([{"model": out, "inputs": [spec], "out": os.path.join(work, "ort")}], work)
    got = read_result(os.path.join(work, "ort"))
    if isinstance(got, str):
        failures.append(f"ONNX Runtime cannot run the converted model: {got}")
        got = []
    for out_name, a in got:
        # output names become file names as `ledge run` makes them ('/' -> '_')
        file_name = out_name.replace("/", "_").replace("\\", "_")
        if file_name.startswith("."):
            file_name = "_" + file_name[1:]
        ref_path = os.path.join(reference, file_name + ".npy")
        if not os.path.exists(ref_path):
            failures.append(f"output {out_name} has no reference")
            continue
        ref = np.load(ref_path)
        scale = max(float(np.max(np.abs(ref))), 1e-30)
        e = float(np.max(np.abs(a.astype(np.float64) - ref))) / scale if a.shape == ref.shape else float("inf")
        print(f"{out_name} {list(a.shape)}: ONNX Runtime vs reference, error {e:.2e} of the scale")
        if not e <= 1e-3:
            failures.append(f"output {out_name} differs from the reference (error {e:.2e})")
    for f in failures:
        print("FAIL", f)
    return 1 if failures else 0


def main(argv):
    if len(argv) >= 5 and argv[1] == "suite":
        return suite(argv[2], argv[3], argv[4])
    if len(argv) == 8 and argv[1] == "model":
        return one_model(*argv[2:8])
    if len(argv) >= 6 and argv[1] == "networks":
        return networks(argv[2], argv[3], argv[4], argv[5:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))

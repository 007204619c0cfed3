"""What a photo's default outputs cost, step by step, and the video overlay per 640x480 frame: this tree
beside an earlier one (`--baseline-src`, e.g. a `git archive main src` folder), each round running both in
fresh processes one after the other (interleaved), medians over the rounds.

The inputs are made once, in this tree: `--count` 256x256 one-hand photos cut from the labelled dev photos
(as `bench_throughput.py` makes them), detected and fitted here; every process then times the same hands
(pickled), with one torch thread as the command's writer uses; wall and thread CPU times. Per photo: the
texture bake (UV texture and vertex colours), the overlay and side view renders, the PNG encodes, each mesh
format, NPZ, JSON, and the whole photo's file set (`write_image_outputs`, everything but the texture). Per
frame: `overlay_mesh` of a hand filling about a third of a 640x480 frame, and the candidate pairs its
rasterization tests.

Run: python benchmarks/bench_outputs.py --devdata ../shared/devdata [--runs 5] [--count 10] [--baseline-src DIR]
"""

# ruff: noqa: B023  (lambdas are called at once, inside their loop turn)
from __future__ import annotations

import argparse
import json
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import io, json, pickle, statistics, sys, tempfile, time
from pathlib import Path
import numpy as np
import torch
torch.set_num_threads(1)
from handrecon.api import HandReconstructor
from handrecon.geometry.camera import PerspectiveCamera, intrinsics
from handrecon.io import png_bytes, save_npz_atomic, write_glb, write_json_atomic, write_obj, write_ply
from handrecon.pipeline.outputs import image_record, overlay_image, side_image, write_image_outputs
from handrecon.render.overlay import overlay_mesh
import importlib
cand = importlib.import_module("handrecon.render.candidates")
rz = importlib.import_module("handrecon.render.rasterize")  # the module: the package exports a function of that name

data = pickle.loads(Path(sys.argv[1]).read_bytes())
repeat = int(sys.argv[2])
rec = HandReconstructor()
pipe = rec.pipeline
costs = {}

def clock(name, fn):
    wall, cpu = [], []
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.thread_time()
        out = fn()
        cpu.append((time.thread_time() - c0) * 1000)
        wall.append((time.perf_counter() - t0) * 1000)
    costs.setdefault(name, []).append(statistics.median(wall))
    costs.setdefault("CPU: " + name, []).append(statistics.median(cpu))
    return out

with tempfile.TemporaryDirectory() as tmp:
    out = Path(tmp)
    for i, (rgb, K, dets, fits, hands) in enumerate(data["photos"]):
        outs = [pipe.models[d.handedness](**f.params.model_inputs()) for d, f in zip(dets, fits)]
        with torch.no_grad():
            clock("texture bake (UV map + vertex colours)", lambda: pipe._textures(rgb, dets, outs, K))
        Kn, h = K.numpy(), hands[0]
        ov = clock("overlay render", lambda: overlay_image(rgb, hands, Kn))
        sv = clock("side view render", lambda: side_image(hands, Kn, rgb.shape[1], rgb.shape[0]))
        clock("overlay PNG encode", lambda: png_bytes(ov))
        clock("side view PNG encode", lambda: png_bytes(sv))
        clock("texture PNG encode", lambda: png_bytes(h.texture))
        clock("OBJ + MTL + texture PNG", lambda: write_obj(out / "m.obj", h.vertices, h.faces, uv=h.uv,
                                                           faces_uv=h.faces_uv, texture=h.texture))
        clock("PLY", lambda: write_ply(out / "m.ply", h.vertices, h.faces, vertex_colors=h.vertex_colors))
        clock("GLB", lambda: write_glb(out / "m.glb", h.vertices, h.faces, uv=h.uv, faces_uv=h.faces_uv,
                                       texture=h.texture))
        arrays = {"v": h.vertices, "f": h.faces, "j": h.joints_3d, "c": h.vertex_colors}
        clock("NPZ", lambda: save_npz_atomic(out / "a.npz", arrays))
        clock("JSON", lambda: write_json_atomic(out / "a.json", image_record("x", 256, 256, Kn, hands)))
        clock("photo's whole file set", lambda: write_image_outputs(out / "set", f"p{i}", "x", rgb, hands, Kn))

    # Video overlay: one 640x480 frame, the hand about a third of its height.
    v, f = data["frame_mesh"]
    cam = PerspectiveCamera(intrinsics(600.0, 600.0, 320.0, 240.0), 640, 480)
    frame = np.random.default_rng(0).integers(0, 255, (480, 640, 3), dtype=np.uint8)
    pairs = []
    original = cand.iter_pixel_pairs
    def counted(*a, **k):
        for p in original(*a, **k):
            pairs.append(p.face.numel())
            yield p
    rz.iter_pixel_pairs = counted
    overlay_mesh(frame, v, f, cam)
    rz.iter_pixel_pairs = original
    frame_repeat = max(5, 4 * repeat)
    for _ in range(frame_repeat):
        clock("overlay per 640x480 frame", lambda: overlay_mesh(frame, v, f, cam))
rec.close()
result = {k: statistics.median(v) for k, v in costs.items()}
result["candidate pairs per frame"] = sum(pairs)
print("RESULT " + json.dumps(result))
"""


def make_inputs(root: Path, folder: Path, count: int, pickle_path: Path) -> int:
    """Detect and fit `count` photos in this tree and pickle what the timed processes need."""
    import numpy as np
    import torch

    sys.path.insert(0, str(Path(__file__).parent))
    from bench_throughput import make_folder

    from handrecon.api import HandReconstructor
    from handrecon.hand import HandModel

    make_folder(root, folder, count)
    rec = HandReconstructor()
    photos = []
    for p in sorted(folder.glob("*.jpg")):
        rgb, K, _ = rec.load(p)
        dets = rec.pipeline.detect(rgb)
        if not dets:
            continue
        obs, ik = rec.pipeline.observations(dets, K)
        fits = rec.pipeline.fitter.fit(obs, K, ik, None)
        hands = rec.pipeline.package(rgb, dets, fits, K, True)
        photos.append((rgb, K, dets, fits, hands))
    rec.close()
    model = HandModel(side="right")
    with torch.no_grad():
        pose = torch.zeros(1, 15, 3)
        pose[0, :, 2] = 0.25  # fingers a little curled: overlapping faces as in real frames
        mesh = model(global_orient=torch.tensor([[0.3, -0.4, 0.2]]), hand_pose=pose, betas=torch.zeros(1, 10),
                     transl=torch.tensor([[0.0, 0.0, 0.45]]))  # fmt: skip
    v = mesh.vertices - mesh.vertices.mean(1, keepdim=True) + torch.tensor([0.0, 0.0, 0.45])
    pickle_path.write_bytes(pickle.dumps({"photos": photos, "frame_mesh": (v, model.faces.long())}))
    del np
    return len(photos)


def run_child(src: Path | None, pickle_path: Path, repeat: int) -> dict[str, float]:
    env = dict(os.environ, PYTHONWARNINGS="ignore", OMP_NUM_THREADS="1")
    if src is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(src.resolve()), env.get("PYTHONPATH", "")])
    proc = subprocess.run([sys.executable, "-c", CHILD, str(pickle_path), str(repeat)], env=env,
                          capture_output=True, text=True, check=False)  # fmt: skip
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if line is None:
        raise RuntimeError(f"timing process failed:\n{proc.stderr[-3000:]}")
    return json.loads(line[len("RESULT ") :])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--devdata", type=Path, default=None)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--count", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=3, help="timings per photo and process (their median is kept)")
    ap.add_argument("--baseline-src", type=Path, default=None)
    args = ap.parse_args()

    from _devdata import devdata_root

    root = devdata_root(args.devdata)
    if root is None:
        return
    print(f"load average at start: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    trees: dict[str, Path | None] = {"this tree": None}
    if args.baseline_src is not None:
        trees["baseline"] = args.baseline_src
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        n = make_inputs(root, tmp / "photos", args.count, tmp / "inputs.pkl")
        print(f"{n} photos with a hand (256x256, one torch thread); rounds interleaved")
        results: dict[str, list[dict[str, float]]] = {k: [] for k in trees}
        for r in range(args.runs):
            for name, src in trees.items():
                t0 = time.perf_counter()
                results[name].append(run_child(src, tmp / "inputs.pkl", args.repeat))
                print(f"round {r + 1}/{args.runs}: {name} {time.perf_counter() - t0:.0f} s, "
                      f"load {os.getloadavg()[0]:.1f}", flush=True)  # fmt: skip
    steps = [k for k in results["this tree"][0] if not k.startswith("CPU: ")]
    steps += [k for k in results["this tree"][0] if k.startswith("CPU: ")]
    print(f"\nmedian ms per photo (per frame for the video overlay) over {args.runs} interleaved rounds;")
    print("wall time, then the timing thread's CPU time (CPU: ...), which a loaded machine inflates less:")
    head = f"  {'step':<40} {'this tree':>10}" + (f" {'baseline':>10} {'ratio':>6}" if len(trees) > 1 else "")
    print(head)
    for step in steps:
        ours = [res[step] for res in results["this tree"]]
        line = f"  {step:<40} {statistics.median(ours):10.2f}"
        if len(trees) > 1:
            base = [res[step] for res in results["baseline"]]
            line += f" {statistics.median(base):10.2f} {statistics.median(ours) / statistics.median(base):6.2f}"
        print(line)
    print(f"load average at end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()

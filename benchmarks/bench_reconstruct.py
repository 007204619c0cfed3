"""The reconstruction pipeline on the labelled dev photos (read in place from ../shared/devdata):

- 2D: mean reprojection error of the fitted joints vs MediaPipe's own 2D error, against the labels;
- 3D (InterHand2.6M, 3D labels): PA-MPJPE of the fitted joints vs MediaPipe's metric world landmarks;
- uncertainty: share of MediaPipe's 2D errors within 1 and 2 predicted sigmas (a calibrated isotropic 2D
  Gaussian gives 39 % and 86 %);
- plausibility on every dev photo: penetration rate (depth > 6 mm) and joint-limit violations;
- speed, in one run: whole pipeline per image vs MediaPipe alone (static mode, same images), and the video
  mode's frame rate on a 640x480 clip made from a dev photo.

With `--init ik network` every figure is measured for each start of the fit in the same run (speed side by
side, image by image), and the landmark network alone (no fit) is measured beside MediaPipe's world
landmarks: accuracy, and time per image of detection + network vs MediaPipe alone.

Run: python benchmarks/bench_reconstruct.py [--runs 5] [--devdata PATH] [--detector thorough|fast]
     [--init ik network] [--init-checkpoint FILE] [--network-shape aligned|network|detector]
(another openhand asset, e.g. one rebuilt by tools/build_hand_model.py: HANDRECON_OPENHAND_ASSET=PATH)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _devdata import devdata_root  # noqa: E402

from handrecon.api import HandReconstructor  # noqa: E402
from handrecon.data.devdata import load_labelled, unlabelled_photos  # noqa: E402
from handrecon.eval import pa_mpjpe  # noqa: E402
from handrecon.eval.report import MetricReport, format_comparison  # noqa: E402
from handrecon.geometry.camera import project_points  # noqa: E402
from handrecon.pipeline.config import NETWORK_SHAPES, PipelineConfig  # noqa: E402


def match(hand, labelled):
    """The labelled hand whose visible keypoints are closest to a reconstructed hand's detected ones."""
    best = None
    for h in labelled:
        e = np.linalg.norm(hand.keypoints_2d_detected[h.visible] - h.keypoints[h.visible], axis=1).mean()
        if best is None or e < best[0]:
            best = (e, h)
    size = np.ptp(hand.keypoints_2d_detected, 0).max()
    return best[1] if best and best[0] < 0.5 * size else None


def accuracy(rec: HandReconstructor, root: Path) -> None:
    fit2d, mp2d = MetricReport("reconstruction"), MetricReport("MediaPipe")
    cover1, cover2, n_detected, n_labelled = [], [], 0, 0
    per_joint = np.zeros((2, 21)), np.zeros(21)  # summed fit / MediaPipe 2D errors per joint, counts
    log_scales = []  # log s of the fitted finger-segment scales (how far the fit bends the proportions)
    for item in load_labelled(root):
        n_labelled += len(item.hands)
        hands = rec.reconstruct(item.path, K=item.K)
        for hand in hands:
            h = match(hand, item.hands)
            if h is None:
                continue
            n_detected += 1
            if hand.bone_scales is not None:
                log_scales.append(np.log(np.asarray(hand.bone_scales)[1:]))
            vis = h.visible
            fit2d.add("2D error [px]", float(np.linalg.norm(hand.joints_2d[vis] - h.keypoints[vis], axis=1).mean()))
            e_mp = np.linalg.norm(hand.keypoints_2d_detected[vis] - h.keypoints[vis], axis=1)
            per_joint[0][0, vis] += np.linalg.norm(hand.joints_2d[vis] - h.keypoints[vis], axis=1)
            per_joint[0][1, vis] += e_mp
            per_joint[1][vis] += 1
            mp2d.add("2D error [px]", float(e_mp.mean()))
            cover1 += list(e_mp <= hand.sigma_2d[vis])
            cover2 += list(e_mp <= 2 * hand.sigma_2d[vis])
            if h.xyz is not None:
                gt = torch.as_tensor(h.xyz)[None]
                fit2d.add("PA-MPJPE InterHand [mm]", float(pa_mpjpe(torch.as_tensor(hand.joints_3d)[None], gt)[0]))
                world = torch.as_tensor(hand.detector["world_landmarks_m"])[None]
                mp2d.add("PA-MPJPE InterHand [mm]", float(pa_mpjpe(world, gt)[0]))
    n3d = fit2d.count("PA-MPJPE InterHand [mm]")
    print(f"labelled hands: {n_labelled}, detected and matched: {n_detected}, with 3D labels: {n3d}")
    print(format_comparison([fit2d, mp2d]))
    ratio = fit2d.mean("2D error [px]") / mp2d.mean("2D error [px]")
    print(f"2D error ratio (reconstruction / MediaPipe): {ratio:.3f}")
    pj = per_joint[0] / np.maximum(per_joint[1], 1)
    print("2D error per joint (OpenPose order), fit / MediaPipe [px]: "
          + " ".join(f"{a:.1f}/{b:.1f}" for a, b in zip(pj[0], pj[1], strict=True)))  # fmt: skip
    if log_scales:
        ls = np.stack(log_scales)
        print(f"mean |log bone scale| of the 15 finger segments: {np.abs(ls).mean():.3f}; signed mean per segment "
              f"(hand_pose order): {' '.join(f'{v:+.2f}' for v in ls.mean(0))}")  # fmt: skip
    print(
        f"MediaPipe errors within 1 sigma: {100 * np.mean(cover1):.0f} %, within 2 sigma: {100 * np.mean(cover2):.0f} %"
    )


def plausibility(rec: HandReconstructor, root: Path) -> None:
    paths = [it.path for it in load_labelled(root)] + unlabelled_photos(root)
    depths, viol, beyond, photos = [], [], 0, 0
    for p in paths:
        hands = rec.reconstruct(p)
        photos += bool(hands)
        for h in hands:
            depths.append(h.plausibility.penetration_depth_mm or 0.0)
            if h.plausibility.penetrates_other_hand_mm is not None:
                depths.append(h.plausibility.penetrates_other_hand_mm)
            viol.append(h.plausibility.max_joint_limit_violation_deg)
            beyond += bool(h.plausibility.joints_beyond_tolerance)
    depths, viol = np.array(depths), np.array(viol)
    print(f"plausibility over {len(viol)} hands in {photos} of {len(paths)} photos:")
    print(f"  penetration rate (> 6 mm): {100 * np.mean(depths > 6.0):.1f} %  (max depth {depths.max():.2f} mm)")
    print(f"  hands with a joint beyond the 5-degree tolerance: {beyond}  (largest violation {viol.max():.2f} deg)")


def network_alone(rec: HandReconstructor, root: Path, runs: int) -> None:
    """The landmark network's start without the fit: its joints' accuracy beside MediaPipe's world landmarks,
    and its time per image (detection + network) beside MediaPipe alone."""
    import mediapipe as mp

    from handrecon.detect.mediapipe_hands import quiet_native_stderr
    from handrecon.io import load_image

    pipe = rec.pipeline
    net_r, mp_r = MetricReport("network alone"), MetricReport("MediaPipe world")
    for item in load_labelled(root):
        rgb = load_image(item.path).rgb
        K = torch.as_tensor(item.K) if item.K is not None else rec.intrinsics(rgb.shape[1], rgb.shape[0])[0]
        dets = pipe.detect(rgb)
        for d, (params, _) in zip(dets, pipe.initializer(dets, K), strict=True):
            out = pipe.models[d.handedness](**params.model_inputs(), skin_mesh=False)
            h = match(_Detected(d.keypoints), item.hands)
            if h is None:
                continue
            vis = h.visible
            uv = project_points(out.joints, K.to(out.joints.dtype))[0].detach().numpy()
            net_r.add("2D error [px]", float(np.linalg.norm(uv[vis] - h.keypoints[vis], axis=1).mean()))
            mp_r.add("2D error [px]", float(np.linalg.norm(d.keypoints[vis] - h.keypoints[vis], axis=1).mean()))
            if h.xyz is not None:
                gt = torch.as_tensor(h.xyz)[None]
                net_r.add("PA-MPJPE InterHand [mm]", float(pa_mpjpe(out.joints.double(), gt)[0]))
                mp_r.add("PA-MPJPE InterHand [mm]", float(pa_mpjpe(torch.as_tensor(d.world)[None], gt)[0]))
    print(format_comparison([net_r, mp_r]))
    one_hand = [it.path for it in load_labelled(root) if it.dataset in ("onehand10k", "freihand")]
    images = [load_image(p).rgb for p in one_hand]
    with quiet_native_stderr():
        mp_hands = mp.solutions.hands.Hands(static_image_mode=True, max_num_hands=2)
    t_mp, t_det, t_net = [], [], []
    for k in range(runs + 1):
        for rgb in images:
            K = rec.intrinsics(rgb.shape[1], rgb.shape[0])[0]
            t0 = time.perf_counter()
            with quiet_native_stderr():
                mp_hands.process(rgb)
            t1 = time.perf_counter()
            dets = pipe.detect(rgb)
            t2 = time.perf_counter()
            pipe.initializer(dets, K)
            t3 = time.perf_counter()
            if k:  # the first round warms up
                t_mp.append((t1 - t0) * 1000)
                t_det.append((t2 - t1) * 1000)
                t_net.append((t3 - t2) * 1000)
    m_mp, m_det, m_net = (statistics.median(t) for t in (t_mp, t_det, t_net))
    print(f"network alone per image ({len(images)} one-hand photos x {runs} runs, medians): MediaPipe alone "
          f"{m_mp:.1f} ms, detector {m_det:.1f} ms + network {m_net:.2f} ms, ratio {(m_det + m_net) / m_mp:.2f}")


class _Detected:
    """What `match` reads of a hand: its detected keypoints."""

    def __init__(self, keypoints: np.ndarray) -> None:
        self.keypoints_2d_detected = keypoints


def speed(recs: dict[str, HandReconstructor], root: Path, runs: int) -> None:
    import mediapipe as mp

    from handrecon.detect.mediapipe_hands import quiet_native_stderr
    from handrecon.io import load_image

    one_hand = [it.path for it in load_labelled(root) if it.dataset in ("onehand10k", "freihand")]
    images = [load_image(p).rgb for p in one_hand]
    with quiet_native_stderr():
        mp_hands = mp.solutions.hands.Hands(static_image_mode=True, max_num_hands=2)

    def mediapipe_alone(rgb):
        with quiet_native_stderr():
            mp_hands.process(rgb)

    rec = next(iter(recs.values()))
    Ks = [rec.intrinsics(im.shape[1], im.shape[0])[0] for im in images]
    for rgb, K in zip(images, Ks, strict=True):  # warm-up
        mediapipe_alone(rgb)
        for r in recs.values():
            r.reconstruct(rgb, K=K)
    t_mp, t_ours = [], {name: [] for name in recs}
    for _ in range(runs):
        for rgb, K in zip(images, Ks, strict=True):
            t0 = time.perf_counter()
            mediapipe_alone(rgb)
            t_mp.append((time.perf_counter() - t0) * 1000)
            for name, r in recs.items():
                t1 = time.perf_counter()
                r.reconstruct(rgb, K=K)
                t_ours[name].append((time.perf_counter() - t1) * 1000)
    m_mp = statistics.median(t_mp)
    for name, ts in t_ours.items():
        m_ours = statistics.median(ts)
        print(f"per image ({len(images)} one-hand photos x {runs} runs, medians): MediaPipe alone {m_mp:.1f} ms, "
              f"whole pipeline (init {name}) {m_ours:.1f} ms, ratio {m_ours / m_mp:.2f}")  # fmt: skip


def video_speed(rec: HandReconstructor, root: Path) -> None:
    import cv2

    from handrecon.pipeline.video import reconstruct_video_file

    src = cv2.imread(str(root / "labeled" / "onehand10k" / "784.jpg"))
    frame = cv2.resize(src, (640, 480)) if src is not None else None
    if frame is None:
        print("video: sample photo missing")
        return
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "clip.mp4"
        writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"mp4v"), 30, (640, 480))
        for i in range(90):
            M = np.float32([[1, 0, 12 * np.sin(i / 10)], [0, 1, 6 * np.cos(i / 13)]])
            writer.write(cv2.warpAffine(frame, M, (640, 480), borderMode=cv2.BORDER_REPLICATE))
        writer.release()
        s = reconstruct_video_file(rec, clip, Path(tmp) / "out", progress=False)
    print(f"video 640x480, one hand: {s.frames} frames in {s.seconds:.1f} s = {s.fps:.1f} frames/s "
          f"(JSON per frame + MP4 overlay), hands in {s.frames_with_hands} frames")  # fmt: skip


def jitter(rec: HandReconstructor, root: Path) -> None:
    """A still hand filmed with sensor noise: frame-to-frame motion of MediaPipe's raw keypoints vs ours.

    As in a video, each frame goes once through the video's detector; MediaPipe's raw keypoints come from
    a tracking graph of their own. Figures before this note tracked each frame twice with the video's own
    detector (raw keypoints first, then the reconstruction), which steadies MediaPipe's tracking region: the
    second line repeats that protocol, for comparison with them."""
    import cv2

    from handrecon.detect.mediapipe_hands import MediaPipeHands
    from handrecon.pipeline.video import VideoReconstructor

    src = cv2.imread(str(root / "labeled" / "onehand10k" / "784.jpg"))
    if src is None:
        return
    frame = cv2.resize(src, (640, 480))[:, :, ::-1]
    K, _ = rec.intrinsics(640, 480)
    step = lambda xs: np.mean([np.linalg.norm(b - a, axis=1).mean() for a, b in zip(xs[:-1], xs[1:], strict=True)])  # noqa: E731
    for tracked_twice in (False, True):
        video = VideoReconstructor(rec.pipeline)
        raw_graph = MediaPipeHands(max_hands=1, video=True)
        rng = np.random.default_rng(0)
        raw, ours = [], []
        for i in range(60):
            noisy = np.clip(frame + rng.normal(0, 4.0, frame.shape), 0, 255).astype(np.uint8)
            raw_det = (video.image.detector if tracked_twice else raw_graph).track(noisy)
            hands = video(noisy, K, i, i / 30)
            if raw_det and hands:
                raw.append(raw_det[0].keypoints)
                ours.append(hands[0].joints_2d)
        video.close()
        raw_graph.close()
        how = "each frame tracked twice (earlier protocol)" if tracked_twice else "each frame tracked once"
        print(f"still hand, 60 noisy frames, {how}: frame-to-frame keypoint motion MediaPipe raw "
              f"{step(raw):.2f} px, handrecon joints {step(ours):.2f} px")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--devdata", type=Path, default=None)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--detector", default="thorough", choices=["thorough", "fast"], help="hand detector for photos")
    ap.add_argument("--init", nargs="+", default=[PipelineConfig().init], choices=["ik", "network"],
                    help="the fit's start(s) (default: the pipeline's)")
    ap.add_argument("--init-checkpoint", default=None, help="landmark network file (default: the bundled one)")
    ap.add_argument("--network-shape", default=None, choices=NETWORK_SHAPES,
                    help="3D shape held by the fit of a network start (default: the pipeline's)")
    ap.add_argument("--network-iterations", type=int, default=None,
                    help="fit steps after the network's start (default: the pipeline's)")
    ap.add_argument("--skip", nargs="*", default=[], choices=["accuracy", "plausibility", "speed", "video", "network"])
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    root = devdata_root(args.devdata)
    if root is None:
        return
    steps = {} if args.network_iterations is None else {"network_iterations": args.network_iterations}
    if args.network_shape is not None:
        steps["network_shape"] = args.network_shape
    recs = {
        init: HandReconstructor(  # init= also sets the video's new tracks, so each video section runs its start
            detector=args.detector, init=init, config=PipelineConfig(init_checkpoint=args.init_checkpoint, **steps)
        )
        for init in args.init
    }
    first = next(iter(recs.values())).models["right"]
    skeleton = first.asset.metadata.get("provenance", {}).get("skeleton", {})
    separate = "separate keypoints" if first.separate_keypoints else "keypoints = joints"
    print(f"hand model: openhand, skeleton {skeleton.get('kind', 'makehuman')}, {separate}; detector {args.detector}")
    for init, rec in recs.items():
        print(f"\n== init {init}")
        if "accuracy" not in args.skip:
            accuracy(rec, root)
        if "plausibility" not in args.skip:
            plausibility(rec, root)
    if "network" in recs and "network" not in args.skip:
        print("\n== the landmark network alone (no fit)")
        network_alone(recs["network"], root, args.runs)
    if "speed" not in args.skip:
        print()
        speed(recs, root, args.runs)
    if "video" not in args.skip:
        for init, rec in recs.items():
            print(f"\n== video, init {init}")
            video_speed(rec, root)
            jitter(rec, root)


if __name__ == "__main__":
    main()

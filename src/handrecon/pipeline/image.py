"""Single-image reconstruction: detect every hand, estimate 2D uncertainty, fit the hand model in 3D
(initialised from the detector's metric landmarks, refined with the knowledge prior), texture, results."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch

from handrecon.detect.front_end import detect_in_image, make_detector
from handrecon.detect.mediapipe_hands import MediaPipeHands
from handrecon.detect.types import HandDetection
from handrecon.detect.uncertainty import SigmaCalibration, keypoint_sigma
from handrecon.fit.initialize import HandParams, inverse_kinematics, place_landmarks, shape_turned_onto
from handrecon.fit.refine import FitResult, HandFitter, HandObservation
from handrecon.fit.torch_threads import single_torch_thread
from handrecon.geometry.camera import PerspectiveCamera, project_points
from handrecon.hand.keypoints import MANO16_NAMES
from handrecon.io import downscale_for_processing
from handrecon.pipeline.config import PipelineConfig
from handrecon.pipeline.native_threads import single_threaded_pools_for_a_call
from handrecon.pipeline.results import Hand, Plausibility
from handrecon.priors import penetration as _penetration
from handrecon.priors.knowledge import AnatomicalPosePrior
from handrecon.render.covered import covered_fragments
from handrecon.render.rasterize import submesh_fragments
from handrecon.texture.bake import bake_uv_texture, dilate_texture
from handrecon.texture.reverse_interpolation import reverse_interpolate


class ImageReconstructor:
    """Detector + fitter + texture for single images, with one hand model per side."""

    def __init__(self, models: dict, config: PipelineConfig | None = None, detector: MediaPipeHands | None = None):
        self.models = models
        self.config = config or PipelineConfig()
        self.detector = detector or make_detector(
            self.config.detector, self.config.max_hands, self.config.min_detection_confidence
        )
        self.calibration = SigmaCalibration.load()
        with torch.no_grad():  # OpenPose-order keypoints of each model's mean hand at rest
            self._rest_keypoints = {s: m().joints[0].double().cpu().numpy() for s, m in models.items()}
        self.priors = {side: AnatomicalPosePrior.from_hand_model(m) for side, m in models.items()}
        fit = self.config.fit
        self.initializer = None
        if self.config.init == "network":
            from handrecon.pipeline.network_init import NetworkInitializer

            self.initializer = NetworkInitializer(models, self.config.init_checkpoint)
            fit = dataclasses.replace(fit, iterations=min(fit.iterations, self.config.network_iterations))
        self.fitter = HandFitter(models, self.config.weights, fit)
        self._corner_uv_cache: dict[tuple, torch.Tensor] = {}

    # -------------------------------------------------------------------------------------------
    def detect(self, rgb: np.ndarray) -> list[HandDetection]:
        """Every hand, in the pixels of `rgb`; a larger photo is detected on a downscaled copy."""
        c = self.config
        return self.with_sigma(detect_in_image(self.detector, rgb, c.detection_max_side, c.tta_passes))

    def with_sigma(self, dets: list[HandDetection]) -> list[HandDetection]:
        """The detections with their calibrated per-joint 2D uncertainty attached (also for detections made
        elsewhere by `detect_in_image` with this pipeline's detector settings)."""
        for d in dets:
            d.sigma = keypoint_sigma(d, self.calibration)
        return dets

    def observations(
        self, dets: list[HandDetection], K: torch.Tensor, init: list[HandParams | None] | None = None
    ) -> tuple[list[HandObservation], list[HandParams]]:
        """What the fit matches per hand, and its starting point: `init` where given (a video's previous
        frame), else the landmark network's prediction (`config.init == "network"`), else inverse kinematics
        onto the detector's landmarks placed in the camera. Runs with one torch thread, as the fit
        (`fit.torch_threads`)."""
        with single_torch_thread():
            return self._observations(dets, K, init)

    def _observations(
        self, dets: list[HandDetection], K: torch.Tensor, init: list[HandParams | None] | None
    ) -> tuple[list[HandObservation], list[HandParams]]:
        given = list(init) if init is not None else [None] * len(dets)
        dtype = next(iter(self.models.values())).dtype
        Kn = K.detach().cpu().numpy()
        placed = []
        for d in dets:
            # The detector's landmarks at the size of the model's mean hand: their own size varies too much
            # to set the depth; the shape prior then adapts the size.
            rest = self._rest_keypoints[d.handedness]
            w = d.world - d.world[0]
            scale = np.linalg.norm(rest - rest[0]) / max(np.linalg.norm(w), 1e-9)
            placed.append(place_landmarks(d.world * scale, d.keypoints, Kn))
        # how each fit starts, for the results (`Hand.initial`) of the call that follows
        self._initial_records = [{"method": "given" if g is not None else "ik"} for g in given]
        todo = [i for i, g in enumerate(given) if g is None]
        if self.initializer is not None and todo:
            starts_net = self.initializer([dets[i] for i in todo], K, [placed[i] for i in todo])
            for i, net in zip(todo, starts_net, strict=True):
                given[i] = net.params
                sigma = np.round(net.joint_sigma, 5).tolist()
                self._initial_records[i] = {"method": "network", "joint_sigma_3d_m": sigma}
                if self.config.network_shape != "detector":  # the shape the landmark term holds (config)
                    turn = self.config.network_shape == "aligned"
                    placed[i] = shape_turned_onto(net.joints, placed[i]) if turn else net.joints
        obs, starts = [], []
        for d, start, world_cam in zip(dets, given, placed, strict=True):
            target = torch.as_tensor(world_cam, dtype=dtype)[None]
            starts.append(start if start is not None else inverse_kinematics(self.models[d.handedness], target))
            obs.append(
                HandObservation(
                    side=d.handedness,
                    keypoints=torch.as_tensor(d.keypoints, dtype=dtype),
                    sigma=torch.as_tensor(d.sigma, dtype=dtype),
                    world=target[0],
                )
            )
        return obs, starts

    def __call__(self, rgb: np.ndarray, K: torch.Tensor, previous: list[HandParams | None] | None = None) -> list[Hand]:
        with single_threaded_pools_for_a_call():  # as the command's photos (`pipeline.native_threads`)
            dets = self.detect(rgb)
            return self.reconstruct_detections(rgb, dets, K, previous)

    def reconstruct_detections(
        self,
        rgb: np.ndarray,
        dets: list[HandDetection],
        K: torch.Tensor,
        previous: list[HandParams | None] | None = None,
        init: list[HandParams] | None = None,
        texture: bool | None = None,
        check_penetration: bool = True,
    ) -> list[Hand]:
        if not dets:
            return []
        texture = self.config.texture if texture is None else texture
        # small tensors throughout, packaging and texture too (`fit.torch_threads`); BLAS and OpenCV at one
        # thread as in the command (`pipeline.native_threads`)
        with single_torch_thread(), single_threaded_pools_for_a_call():
            obs, starts = self.observations(dets, K, init)
            fits = self.fitter.fit(obs, K, starts, previous)
            hands = self.package(rgb, dets, fits, K, texture, check_penetration)
        for h, record in zip(hands, self._initial_records, strict=True):
            h.initial = record
        return hands

    # -------------------------------------------------------------------------------------------
    @torch.no_grad()
    def package(
        self,
        rgb: np.ndarray,
        dets,
        fits: list[FitResult],
        K: torch.Tensor,
        texture: bool,
        check_penetration: bool = True,
    ) -> list[Hand]:
        H, W = rgb.shape[:2]
        outs = []
        for d, f in zip(dets, fits, strict=True):
            p = f.params
            outs.append(self.models[d.handedness](**p.model_inputs()))
        textures = self._textures(rgb, dets, outs, K) if texture else [None] * len(dets)
        hands = []
        for i, (d, f, out) in enumerate(zip(dets, fits, outs, strict=True)):
            model = self.models[d.handedness]
            joints2d = project_points(out.joints, K.to(out.joints.dtype))[0]
            prior = self.priors[d.handedness]
            viol = prior.violations(f.params.hand_pose)[0] * (180 / math.pi)
            per_joint = viol.amax(-1)
            tol = self.config.joint_limit_tolerance_deg
            beyond = [MANO16_NAMES[j + 1] for j, deg in enumerate(per_joint.tolist()) if deg > tol]
            pen_mm, other_mm = self._penetration_report(i, dets, fits, outs, check_penetration)
            plaus = Plausibility(
                max_joint_limit_violation_deg=float(per_joint.max()),
                joints_beyond_tolerance=beyond,
                joint_limit_tolerance_deg=tol,
                penetration_depth_mm=pen_mm,
                penetration_tolerance_mm=self.config.penetration_tolerance_mm,
                penetrates_other_hand_mm=other_mm,
                nearest_depth_m=float(out.vertices[0, :, 2].min()),
            )
            tex = textures[i]
            hand_pose_aa = f.params.to_axis_angle(model.pose_mean).hand_pose[0]
            hands.append(
                Hand(
                    handedness=d.handedness,
                    model=model.name,
                    joints_3d=out.joints[0].double().cpu().numpy(),
                    joints_2d=joints2d.double().cpu().numpy(),
                    keypoints_2d_detected=d.keypoints.copy(),
                    sigma_2d=np.asarray(d.sigma, dtype=np.float64),
                    vertices=out.vertices[0].double().cpu().numpy(),
                    faces=model.faces.cpu().numpy(),
                    global_orient=f.params.global_orient[0].double().cpu().numpy(),
                    hand_pose=hand_pose_aa.double().cpu().numpy(),
                    betas=f.params.betas[0].double().cpu().numpy(),
                    transl=f.params.transl[0].double().cpu().numpy(),
                    bone_scales=None
                    if f.params.bone_scales is None
                    else f.params.bone_scales[0].double().cpu().numpy(),
                    joint_angles_deg=(f.angles * (180 / math.pi)).double().cpu().numpy(),
                    K=K.double().cpu().numpy(),
                    plausibility=plaus,
                    detector={
                        "name": d.detector_name,
                        **d.report,
                        "handedness_score": d.handedness_score,
                        "pass": d.detector_pass,
                        "tta_spread_px": None if d.tta_spread is None else np.round(d.tta_spread, 3).tolist(),
                        "world_landmarks_m": np.round(d.world, 5).tolist(),
                        "sigma_calibration": self.calibration.source,
                    },
                    vertex_colors=None if tex is None else tex["vertex_colors"],
                    texture=None if tex is None else tex["texture"],
                    texture_valid=None if tex is None else tex["valid"],
                    uv=None if model.uv is None else model.uv.double().cpu().numpy(),
                    faces_uv=None if model.faces_uv is None else model.faces_uv[: model.num_faces].cpu().numpy(),
                    track_id=d.track_id,
                    fit=f.energy_terms,
                )
            )
        return hands

    def _penetration_report(self, i: int, dets, fits, outs, check: bool) -> tuple[float | None, float | None]:
        """Hand i's depth inside itself and inside the other hand (mm): the fitter's test at the result when
        it ran, else (with `check`) a test of the output mesh; None when untested."""
        f = fits[i]
        own, other = f.self_penetration, f.other_hand_penetration
        pair = len(dets) == 2 and dets[0].handedness != dets[1].handedness
        if check and own is None:
            own = float(_penetration.self_penetration_depth(outs[i].vertices, self.models[dets[i].handedness])[0])
        if check and pair and other is None:
            models = [self.models[dets[k].handedness] for k in (i, 1 - i)]
            depth = _penetration.two_hand_penetration_depth(outs[i].vertices, outs[1 - i].vertices, *models)
            other = float(depth[0])
        return (None if own is None else own * 1000), (None if other is None else other * 1000)

    def fitter_params(self, hand: Hand) -> HandParams:
        """The parameters of a reconstructed hand in the fitter's form (warm start of the next frame)."""
        return hand.params.to_matrices(self.models[hand.handedness].pose_mean)

    def _texture_source(self, rgb: np.ndarray, outs, K: torch.Tensor) -> tuple[np.ndarray, torch.Tensor]:
        """The full-resolution rectangle the hands cover (a few pixels of margin), downscaled to
        `texture_source_max_side` when larger, and K for it: texture sampling sees the same pixels as on
        the whole photo without converting all of it to floats."""
        H, W = rgb.shape[:2]
        verts = torch.cat([o.vertices[0] for o in outs]).to(K.dtype)
        uv = project_points(verts[None], K)[0]
        if not torch.isfinite(uv).all() or (verts[:, 2] <= 0).any():
            return rgb, K  # a hand through the camera plane: leave the image whole
        margin = 4
        x0, y0 = (int(math.floor(float(uv[:, i].min()))) - margin for i in (0, 1))
        x1, y1 = (int(math.ceil(float(uv[:, i].max()))) + margin for i in (0, 1))
        x0, y0, x1, y1 = max(0, x0), max(0, y0), min(W, x1), min(H, y1)
        if x1 - x0 < 2 or y1 - y0 < 2:
            return rgb, K
        Kc = K.clone()
        Kc[0, 2] -= x0
        Kc[1, 2] -= y0
        crop, s = downscale_for_processing(rgb[y0:y1, x0:x1], self.config.texture_source_max_side)
        if s != 1.0:
            Kc = Kc.clone()
            Kc[:2] *= s
        return np.ascontiguousarray(crop), Kc

    def _corner_uvs(self, side: str, dtype: torch.dtype) -> torch.Tensor:
        """(F, 3, 2) UVs of each face corner of a side's model, gathered once per dtype (not per photo); a
        model whose UV buffers are replaced or changed in place is gathered again."""
        model = self.models[side]
        key = (side, dtype, id(model.uv), model.uv._version, id(model.faces_uv), model.faces_uv._version)
        cached = self._corner_uv_cache.get(key)
        if cached is None:
            cached = model.uv[model.faces_uv].to(dtype)
            self._corner_uv_cache = {key: cached, **{k: v for k, v in self._corner_uv_cache.items() if k[0] != side}}
        return cached

    def _textures(self, rgb: np.ndarray, dets, outs, K: torch.Tensor) -> list[dict | None]:
        """Occlusion-aware texture per hand: the photo's visible surface baked into UV space (with the other
        hands' surfaces occluding) and per-vertex colours by reverse interpolation, hidden parts filled."""
        dtype = outs[0].vertices.dtype
        rgb, K = self._texture_source(rgb, outs, K)
        H, W = rgb.shape[:2]
        cam = PerspectiveCamera(K.to(dtype), W, H)
        image = _photo_tensor(rgb, dtype)
        faces_list = [self.models[d.handedness].faces_closed for d in dets]
        verts = torch.cat([o.vertices[0] for o in outs])[None]
        offsets = np.cumsum([0] + [o.vertices.shape[1] for o in outs])
        face_off = np.cumsum([0] + [f.shape[0] for f in faces_list])
        all_faces = torch.cat([f + int(offsets[k]) for k, f in enumerate(faces_list)])
        # rasterize(verts, all_faces, cam, crop=True) without autograd (none is needed here): the same faces
        # and depths, cheaper; the bake and the vertex samples read no barycentrics, so none are computed
        frags = covered_fragments(verts, all_faces, cam, barycentrics=False)
        results = []
        for k, (d, o) in enumerate(zip(dets, outs, strict=True)):
            model = self.models[d.handedness]
            if model.uv is None:
                results.append(None)
                continue
            frag_k = submesh_fragments(frags, int(face_off[k]), int(face_off[k + 1]))
            corner_uvs = self._corner_uvs(d.handedness, dtype)
            baked = bake_uv_texture(
                image, o.vertices, model.faces_closed, corner_uvs, cam, self.config.texture_size, fragments=frag_k
            )
            tex, valid = dilate_texture(baked.texture, baked.valid, iterations=2)
            samples = reverse_interpolate(image, o.vertices, model.faces_closed, cam, fragments=frag_k, fill=True)
            results.append(
                {
                    "texture": _to_bytes(tex[0].permute(1, 2, 0)),
                    "valid": baked.valid[0].cpu().numpy(),
                    "vertex_colors": _to_bytes(samples.values[0]),
                }
            )
        return results


def _photo_tensor(rgb: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
    """(1, 3, H, W) in [0, 1]. Bytes go straight to dtype (exact in any float type, so the same values as
    through float32), without a float copy of the photo; other inputs through float32 as before."""
    if rgb.dtype == np.uint8:
        pixels = torch.from_numpy(np.require(rgb, requirements="CW"))  # copied (bytes) if read-only or strided
    else:
        pixels = torch.from_numpy(np.array(rgb, dtype=np.float32))
    return pixels.permute(2, 0, 1)[None].to(dtype) / 255.0


def _to_bytes(values: torch.Tensor) -> np.ndarray:
    """Colours in [0, 1] as 0-255 bytes (rounded half to even); in place on the clamped copy, which is several
    times faster than a chain of out-of-place operations on a strided texture view."""
    return values.clamp(0, 1).mul_(255).round_().to(torch.uint8).cpu().numpy()

"""Drawing a complete synthetic scene for one sample index: hands, camera, light, skin, background,
occluders and camera effects, each stage from its own stream of (seed, index)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from handrecon.geometry.rotations import axis_angle_to_matrix, matrix_to_axis_angle
from handrecon.hand.model import HandModel
from handrecon.priors.penetration import self_penetration_depth
from handrecon.synth.appearance.backgrounds import random_background
from handrecon.synth.appearance.effects import Effects, random_effects
from handrecon.synth.appearance.lighting import random_lighting
from handrecon.synth.appearance.skin import SkinTextureBank
from handrecon.synth.config import SynthConfig
from handrecon.synth.rng import sample_streams
from handrecon.synth.scene.cameras import (
    egocentric_intrinsics,
    egocentric_orientation,
    egocentric_orientation_ok,
    exocentric_intrinsics,
    exocentric_orientation,
    push_beyond,
)
from handrecon.synth.scene.forearm import ArmGeometry, ForearmTopology
from handrecon.synth.scene.occluders import Occluder, covered_fraction, random_occluder
from handrecon.synth.scene.poses import PoseSampler
from handrecon.synth.scene.two_hands import TwoHandResolver

EGO_MIN_DEPTH_M = 0.05  # nearest hand surface of an egocentric view
ARM_MIN_DEPTH_M = 0.03  # forearms stay in front of the camera (faces behind it cannot be drawn)
ARM_CLEARANCE_M = 0.008  # and this far from fingers and from the other hand
ARM_CAMERA_CLEARANCE_M = 0.12  # and this far from the lens
EGO_ARM_REACH = 1.6  # head-mounted views see the arm up to the elbow
EGO_PAIR_DISTANCE = 1.3
MAX_OCCLUDED_FRACTION = 0.6  # of a scene's hand vertices one occluder may cover
OCCLUDER_TRIES = 4


@dataclass
class HandInstance:
    """One placed hand: parameters and its camera-frame mesh and joints (OpenPose order)."""

    side: str
    angles: np.ndarray  # (15, 3) anatomical bend / splay / twist, radians
    hand_pose: np.ndarray  # (15, 3) axis-angle
    betas: np.ndarray  # (10,)
    global_orient: np.ndarray  # (3,) axis-angle
    transl: np.ndarray  # (3,)
    vertices: np.ndarray  # (V, 3) metres, camera frame
    joints: np.ndarray  # (21, 3) metres, camera frame, OpenPose order
    category: str
    self_penetration: float  # metres, deepest self-penetration found by the rejection test
    tries: int
    arm: ArmGeometry | None = None


@dataclass
class Scene:
    """Everything needed to render and label one sample."""

    index: int
    hands: list[HandInstance]  # primary first
    K: np.ndarray  # (3, 3)
    egocentric: bool
    lighting: torch.Tensor  # (11,)
    skin_tone: float
    skin_texture: torch.Tensor  # (4, S, S): linear albedo + specular weight
    arm_texture: torch.Tensor  # (4, h, w): the forearms' skin, wrist at the bottom row
    background: torch.Tensor  # (3, H, W) sRGB
    background_kind: str
    sleeve_texture: torch.Tensor  # (3, h, w) sRGB fabric of the sleeves (used by arms that have one)
    occluders: list[Occluder]
    effects: Effects
    streams: dict[str, np.random.Generator] = field(repr=False)
    two_hand_penetration: float = 0.0  # metres, after resolving (two-hand scenes)
    interaction: str = ""  # splice template of two-hand scenes


class SceneSampler:
    """Draws scenes; holds the hand models, the pose sampler and the skin texture bank of one process."""

    def __init__(self, config: SynthConfig) -> None:
        self.config = config
        self.models = {side: HandModel(side=side, model=config.model) for side in ("right", "left")}
        right = self.models["right"]

        def self_depth(vertices: torch.Tensor) -> torch.Tensor:
            return self_penetration_depth(vertices, right)

        self.poses = PoseSampler(right, config.mixture, self_depth, config.max_penetration)
        self.left_poses = PoseSampler(self.models["left"], config.mixture)
        self.forearms = {side: ForearmTopology(m) for side, m in self.models.items()}
        self.skin = SkinTextureBank(right, config.texture_size, arm_palmar=self.forearms["right"].loop_palmar)
        # Vertices of the fingers (skinned mostly to a finger bone, thumb metacarpal excluded): the forearm
        # must keep clear of them.
        w = right.lbs_weights.detach().cpu()
        self.finger_vertices = (w[:, 1:13].sum(1) + w[:, 14:16].sum(1) > 0.5).nonzero().squeeze(1).numpy()
        self.two_hands = TwoHandResolver(self.models, config.two_hand_max_penetration)

    # ------------------------------------------------------------------------------------------
    def _pose(self, rng: np.random.Generator, side: str) -> dict:
        betas = torch.as_tensor(rng.standard_normal((1, 10)), dtype=self.models["right"].dtype)
        s = self.poses.sample([rng], betas)
        # Same anatomical angles on either side; the left model's own anatomy gives its (mirrored) rotations.
        hand_pose = s.hand_pose if side == "right" else self.left_poses.to_hand_pose(s.angles)
        return {
            "side": side,
            "angles": s.angles[0],
            "hand_pose": hand_pose[0],
            "betas": betas[0],
            "category": s.category[0],
            "penetration": float(s.penetration[0]),
            "tries": s.tries[0],
        }

    @torch.no_grad()
    def _posed(self, p: dict, R: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
        """Vertices and joints (model precision) of a hand rotated by R about its wrist, and its orient."""
        model = self.models[p["side"]]
        go = matrix_to_axis_angle(torch.as_tensor(R, dtype=model.dtype)[None])
        out = model(global_orient=go, hand_pose=p["hand_pose"][None], betas=p["betas"][None])
        return out.vertices[0], out.joints[0], go[0].double().numpy()

    def _instance(self, p: dict, posed: tuple, transl: np.ndarray) -> HandInstance:
        """The placed hand: the posed mesh plus the translation, added in the model's precision exactly as
        the model adds `transl`, so that model(parameters) reproduces vertices and joints."""
        vertices32, joints32, go = posed
        t = torch.as_tensor(transl, dtype=vertices32.dtype)
        return HandInstance(
            side=p["side"],
            angles=p["angles"].double().numpy(),
            hand_pose=p["hand_pose"].double().numpy(),
            betas=p["betas"].double().numpy(),
            global_orient=go,
            transl=t.double().numpy(),
            vertices=(vertices32 + t).double().numpy(),
            joints=(joints32 + t).double().numpy(),
            category=p["category"],
            self_penetration=p["penetration"],
            tries=p["tries"],
        )

    def _arm(
        self, hand: HandInstance, others: list[HandInstance], K: np.ndarray, reach: float, rng: np.random.Generator
    ) -> ArmGeometry:
        """A forearm that is not cut visibly by the camera's near plane and keeps clear of the other hand
        and of its own fingers."""
        topology = self.forearms[hand.side]
        L = topology.loop_size
        R = axis_angle_to_matrix(torch.as_tensor(hand.global_orient[None]))[0].numpy()
        obstacles = [torch.as_tensor(hand.vertices[self.finger_vertices])]
        obstacles += [torch.as_tensor(h.vertices) for h in others]
        obstacles += [torch.as_tensor(h.arm.vertices) for h in others if h.arm is not None]
        size = self.config.size
        loop = hand.vertices[topology.loop.numpy()]

        def penalty(arm: np.ndarray) -> float:
            # Faces behind the near plane are dropped by the rasterizer: harmless outside the view, a visible
            # cut where the arm's axis crosses that plane inside the image.
            centres = np.concatenate([loop.mean(0, keepdims=True), arm[:-1].reshape(-1, L, 3).mean(1)])
            z = centres[:, 2]
            cut = 0.0
            for a, b in zip(centres[:-1], centres[1:], strict=True):
                if a[2] >= ARM_MIN_DEPTH_M > b[2]:
                    p = a + (b - a) * (a[2] - ARM_MIN_DEPTH_M) / (a[2] - b[2])
                    u = K @ p
                    margin = 0.25 * size
                    cut += float(((u[:2] / u[2] > -margin) & (u[:2] / u[2] < size + margin)).all())
            cut += float(z[0] < ARM_MIN_DEPTH_M)
            # The arm belongs to someone: it does not pass right in front of the lens, and it leaves the
            # picture (its far end projects outside the image, or lies behind the camera).
            cut += float((np.linalg.norm(centres, axis=1) < ARM_CAMERA_CLEARANCE_M).any())
            end = arm[-1]
            if end[2] > ARM_MIN_DEPTH_M:
                u = K @ end
                cut += 0.5 * float(((u[:2] / u[2] > 0) & (u[:2] / u[2] < size)).all())
            if reach > 1.0:  # head-mounted views: the arm comes from below the camera
                cut += 0.5 * float(end[1] < loop[:, 1].mean())
            far = torch.as_tensor(arm[L:])  # from the second ring on
            clash = sum(float((ARM_CLEARANCE_M - torch.cdist(far, o).amin(1)).clamp_min(0).sum()) for o in obstacles)
            return cut + clash

        return topology.random_arm(rng, loop, R, penalty, reach=reach)

    # ------------------------------------------------------------------------------------------
    def _place_hands(self, streams: dict[str, np.random.Generator]) -> dict:
        """Poses, the camera and the placed hands (with forearms) of a scene."""
        cfg = self.config
        place = streams["placement"]
        two = place.random() < cfg.two_hand_prob
        ego = place.random() < cfg.ego_prob
        if two:
            poses = [self._pose(streams["pose"], "right"), self._pose(streams["second_hand"], "left")]
        else:
            poses = [self._pose(streams["pose"], "right" if place.random() < 0.5 else "left")]
        # Orientation of the (primary) hand; a second hand is spliced to it.
        if ego:
            K, direction, distance = egocentric_intrinsics(place, cfg.size, cfg.cameras)
            R = egocentric_orientation(place, direction)
        else:
            R = exocentric_orientation(place)
        posed = [self._posed(poses[0], R)]
        offsets = [np.zeros(3)]
        two_pen, template = 0.0, ""
        if two:
            right = posed[0][0].double().numpy()
            veto = egocentric_orientation_ok if ego else None
            R2, offset, two_pen, template = self.two_hands(poses, R, right, streams["second_hand"], veto)
            posed.append(self._posed(poses[1], R2))
            offsets.append(offset)
        # The camera frames the hands as a whole.
        points = np.concatenate([v.double().numpy() + o for (v, _, _), o in zip(posed, offsets, strict=True)])
        centre_of = (points.max(0) + points.min(0)) / 2
        rel = points - centre_of
        if ego:
            # A pair of hands is held a little further from the eyes than a single hand.
            distance *= EGO_PAIR_DISTANCE if two else 1.0
            centre = push_beyond(rel, direction * distance, direction, EGO_MIN_DEPTH_M)
        else:
            K, centre = exocentric_intrinsics(place, rel, cfg.size, cfg.cameras)
        hands = [self._instance(p, q, centre - centre_of + o) for p, q, o in zip(poses, posed, offsets, strict=True)]
        for k, h in enumerate(hands):
            h.arm = self._arm(h, hands[:k] + hands[k + 1 :], K, EGO_ARM_REACH if ego else 1.0, streams["arm"])
        return {"hands": hands, "K": K, "egocentric": ego, "two_hand_penetration": two_pen, "interaction": template}

    def _occluders(self, rng: np.random.Generator, hands: list[HandInstance], K: np.ndarray) -> list[Occluder]:
        """Zero to two occluders, each hiding part of the hands but never (nearly) all of them."""
        cfg = self.config
        occluders: list[Occluder] = []
        if rng.random() >= cfg.occluder_prob:
            return occluders
        count = 2 if rng.random() < 0.3 else 1
        all_joints = np.concatenate([h.joints for h in hands])
        points = np.concatenate([h.vertices for h in hands])
        extent = float(np.linalg.norm(points.max(0) - points.min(0)))
        hw = (max(8, cfg.texture_size // 2), cfg.texture_size)
        for _ in range(count):
            for _ in range(OCCLUDER_TRIES):  # redraw an occluder that covers too much, else leave it out
                o = random_occluder(rng, all_joints[int(rng.integers(len(all_joints)))], extent, hw)
                if covered_fraction(o, points[::4], K) <= MAX_OCCLUDED_FRACTION:
                    occluders.append(o)
                    break
        return occluders

    def sample(self, index: int) -> Scene:
        """The scene of sample `index` (deterministic given the configuration's seed)."""
        cfg = self.config
        streams = sample_streams(cfg.seed, index)
        placed = self._place_hands(streams)
        look = streams["appearance"]
        lighting = random_lighting(look)
        tone = float(look.uniform(*cfg.skin_tone_range))
        texture, arm_texture = self.skin.texture(look, tone)
        background, kind = random_background(look, cfg.size, cfg.size)
        sleeve, _ = random_background(look, max(8, cfg.texture_size // 4), cfg.texture_size)
        return Scene(
            index=index,
            lighting=lighting,
            skin_tone=tone,
            skin_texture=texture,
            arm_texture=arm_texture,
            background=background,
            background_kind=kind,
            sleeve_texture=sleeve,
            occluders=self._occluders(streams["occluders"], placed["hands"], placed["K"]),
            effects=random_effects(streams["effects"]),
            streams=streams,
            **placed,
        )

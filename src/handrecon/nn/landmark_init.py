"""`LandmarkInitNet`: the detector's landmarks -> the fit's own parameters, in one pass (the fast path's start).

The pipeline's detector already gives, per hand, 21 2D keypoints and 21 metric 3D "world" landmarks from a
network trained on real hands. This small MLP maps them to the knowledge-prior fit's parametrisation —
global orientation, the 15 x 3 anatomical Euler angles of `handrecon.hand.anatomy`, shape — plus a per-joint
3D variance, so that the fit (`fit.refine`) starts next to its optimum and needs only a few steps.

Inputs (right hand; the pipeline mirrors a left one first, x -> -x in the camera frame):
- the palm's orientation R0: the rotation (Kabsch) taking the model's rest palm points (wrist and the five
  finger bases) onto the world landmarks, as turned into the camera by PnP against the 2D keypoints
  (`fit.initialize.place_landmarks`: the pipeline's placement); the landmarks are given to the MLP in that frame,
  root-relative and at unit size, so the articulation is read independently of the hand's orientation;
- the 2D keypoints in normalised camera coordinates (K^-1), centred and at unit size, and their centre (the
  viewing direction: perspective changes the picture of the same pose);
- R0 as a 6D rotation and the log size of the world landmarks;
- with `predict_depth`, the keypoints' log apparent size (how far the hand is, hence how strong its
  perspective, and what the depth correction reads).
Outputs: the global orientation as R0 times a regressed correction (6D, Zhou et al. 2019), the anatomical
angles (from the rest pose's), the shape and the log variance of each joint (m^2 per coordinate). The
translation is the least-squares solution that puts the posed joints on the detected 2D keypoints' rays
(linear in t for a pinhole camera), so the hand lands on its detection exactly where the 2D keypoints are
consistent, and its depth follows from the predicted shape (the fit's convention). With
`head_opts.predict_depth` the network also regresses a log-depth correction: the translation is scaled
along its own ray by exp(delta), which keeps the hand's place in the picture and moves only its distance
(what the relative placement of two hands, MRRPE, depends on; trained by the `root_position` term).
A per-joint scale of the predicted sigma (`sigma_scale`, 1 until calibrated on held-out data by
tools/ship_landmark_init.py) is a buffer shipped with the weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from handrecon.geometry.camera import project_points
from handrecon.geometry.procrustes import rigid_procrustes
from handrecon.geometry.rotations import matrix_to_rotation_6d, rotation_6d_to_matrix
from handrecon.hand.anatomy import Anatomy
from handrecon.hand.model import HandModel
from handrecon.nn.prediction import HandPrediction

PALM = (0, 5, 9, 13, 17, 1)  # OpenPose-21: wrist, index / middle / ring / pinky MCP, thumb CMC
NUM_FEATURES = 63 + 42 + 2 + 6 + 1
MIN_DEPTH_M = 0.05
LOG_VAR_RANGE = (-16.0, -4.0)  # per-coordinate variance of a joint: sigma from 0.3 mm to 14 cm


@dataclass
class LandmarkInitPrediction(HandPrediction):
    euler_angles: torch.Tensor | None = None  # (B, 15, 3) anatomical (bend, splay, twist), radians


def normalised_coordinates(uv: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """Pixels (B, N, 2) -> normalised camera coordinates (x/z, y/z) (B, N, 2) for intrinsics K (B, 3, 3)."""
    fx, fy, cx, cy = K[:, 0, 0, None], K[:, 1, 1, None], K[:, 0, 2, None], K[:, 1, 2, None]
    return torch.stack([(uv[..., 0] - cx) / fx, (uv[..., 1] - cy) / fy], -1)


def rays_translation(joints: torch.Tensor, rays: torch.Tensor, iterations: int = 3) -> torch.Tensor:
    """(B, 3): the translation t putting joints (B, N, 3) on the rays r (B, N, 2) (normalised coordinates),
    i.e. minimising sum_j ||(J_j + t)_xy / (J_j + t)_z - r_j||^2. Start: the depth at which the joints' spread
    across the view matches the rays' spread (weak perspective: always in front of the camera), x and y
    from the centroid; then Gauss-Newton steps on the projection error (3 x 3 normal equations, unrolled,
    so gradients flow to the joints)."""
    jc = joints - joints.mean(1, keepdim=True)
    size_3d = jc[..., :2].square().sum(-1).mean(1).sqrt()
    size_2d = (rays - rays.mean(1, keepdim=True)).square().sum(-1).mean(1).sqrt().clamp_min(1e-6)
    tz = (size_3d / size_2d - joints[..., 2].mean(1)).clamp_min(MIN_DEPTH_M)
    txy = (rays * (joints[..., 2:] + tz[:, None, None]) - joints[..., :2]).mean(1)
    t = torch.cat([txy, tz[:, None]], 1)
    eye = 1e-9 * torch.eye(3, dtype=joints.dtype, device=joints.device)
    for _ in range(iterations):
        p = joints + t[:, None]
        z = p[..., 2:].clamp_min(1e-3)
        res = (p[..., :2] / z - rays).reshape(p.shape[0], -1)  # (B, 2N)
        # d(x/z)/dt = (1/z, 0, -x/z^2); d(y/z)/dt = (0, 1/z, -y/z^2)
        inv = 1.0 / z[..., 0]
        zero = torch.zeros_like(inv)
        jx = torch.stack([inv, zero, -p[..., 0] * inv * inv], -1)
        jy = torch.stack([zero, inv, -p[..., 1] * inv * inv], -1)
        J = torch.stack([jx, jy], 2).reshape(p.shape[0], -1, 3)  # rows in the order of res
        step = torch.linalg.solve(J.transpose(1, 2) @ J + eye, J.transpose(1, 2) @ res[..., None])[..., 0]
        t = t - step
        t = torch.cat([t[:, :2], t[:, 2:].clamp_min(MIN_DEPTH_M)], 1)
    return t


class LandmarkInitNet(nn.Module):
    """Detector landmarks -> `LandmarkInitPrediction` (see the module docstring). `head_opts`: hidden (512),
    layers (3), init_log_variance (-9: sigma about 1 cm), predict_depth (False: the depth from the rays
    alone, as the first shipped checkpoint), size_input (True: with predict_depth, the apparent size is an
    input). The backbone options of the recipe's `model`
    section are not used (the detector's network is the backbone; its outputs are the input here)."""

    reads_detections = True  # the training module feeds `forward_batch` the batch's detector outputs

    def __init__(self, backbone: str = "none", backbone_opts: dict | None = None, head: str = "mlp",
                 head_opts: dict | None = None, hand_model: str = "openhand", mano_dir: str | None = None,
                 crop_size: int = 224, **_) -> None:
        super().__init__()
        opts = dict(head_opts or {})
        hidden, layers = int(opts.get("hidden", 512)), int(opts.get("layers", 3))
        self.predict_depth = bool(opts.get("predict_depth", False))
        self.size_input = self.predict_depth and bool(opts.get("size_input", True))  # the apparent-size input
        self.hand_model = HandModel(side="right", model=hand_model, mano_dir=mano_dir)
        self.anatomy = Anatomy.from_hand_model(self.hand_model)
        self.num_betas = self.hand_model.num_betas
        self.crop_size = crop_size
        with torch.no_grad():
            rest = self.hand_model().joints[0].float()
        self.register_buffer("rest_palm", rest[list(PALM)] - rest[:1])
        init = torch.cat([
            matrix_to_rotation_6d(torch.eye(3)[None])[0],
            self.anatomy.rest_angles().reshape(-1).float(),
            torch.zeros(self.num_betas),
            torch.full((21,), float(opts.get("init_log_variance", -9.0))),
            torch.zeros(int(self.predict_depth)),
        ])
        self.register_buffer("init", init)
        self.register_buffer("sigma_scale", torch.ones(21))
        blocks: list[nn.Module] = []
        width = NUM_FEATURES + int(self.size_input)  # + the keypoints' log apparent size (distance cue)
        for _ in range(layers):
            blocks += [nn.Linear(width, hidden), nn.LayerNorm(hidden), nn.GELU()]
            width = hidden
        self.mlp = nn.Sequential(*blocks)
        self.out = nn.Linear(width, init.numel())
        nn.init.xavier_uniform_(self.out.weight, gain=0.01)
        nn.init.zeros_(self.out.bias)

    # -------------------------------------------------------------------------------------------
    def features(self, keypoints: torch.Tensor, world: torch.Tensor, K: torch.Tensor
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(MLP input (B, F), palm rotation R0 (B, 3, 3), the keypoints' rays (B, 21, 2))."""
        rays = normalised_coordinates(keypoints, K)
        w = world - world[:, :1]
        size_w = w.flatten(1).norm(dim=1).clamp_min(1e-6)
        w = w / size_w[:, None, None]
        palm = w[:, list(PALM)]
        rest = self.rest_palm.to(w) / self.rest_palm.norm().clamp_min(1e-6)
        R0 = rigid_procrustes(rest.expand_as(palm), palm).rotation.detach()
        w_palm = w @ R0  # rows R0^T w_j: the landmarks in the palm's frame
        centre = rays.mean(1, keepdim=True)
        d = rays - centre
        size_2d = d.flatten(1).norm(dim=1).clamp_min(1e-9)
        parts = [w_palm.flatten(1), (d / size_2d[:, None, None]).flatten(1), centre[:, 0],
                 matrix_to_rotation_6d(R0), torch.log(size_w / 0.3)[:, None]]
        if self.size_input:
            parts.append(torch.log(size_2d / 0.5)[:, None])
        x = torch.cat(parts, 1)
        return x, R0, rays

    def split(self, est: torch.Tensor
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """(6D orientation correction (B, 6), angles (B, 15, 3), betas (B, S), log variance (B, 21), log-depth
        correction (B,) or None)."""
        s = self.num_betas
        depth = est[:, 72 + s] if self.predict_depth else None
        return est[:, :6], est[:, 6:51].reshape(-1, 15, 3), est[:, 51:51 + s], est[:, 51 + s:72 + s], depth

    def forward(self, keypoints: torch.Tensor, world: torch.Tensor, K: torch.Tensor, with_vertices: bool = True
                ) -> LandmarkInitPrediction:
        """keypoints (B, 21, 2) pixels, world (B, 21, 3) metres (OpenPose order, right hands), K (B, 3, 3)."""
        x, R0, rays = self.features(keypoints.float(), world.float(), K.float())
        est = self.init + self.out(self.mlp(x))
        d6, angles, betas, log_var, log_depth = self.split(est)
        go = R0 @ rotation_6d_to_matrix(d6)
        hp = self.anatomy.euler_to_rotations(angles)
        out = self.hand_model(global_orient=go, hand_pose=hp, betas=betas, skin_mesh=with_vertices)
        transl = rays_translation(out.joints, rays)
        if log_depth is not None:  # along the ray through the origin: same place in the picture, other distance
            transl = transl * log_depth.clamp(-1.0, 1.0).exp()[:, None]
        joints = out.joints + transl[:, None]
        Kf = K.to(joints)
        inv_z = 1.0 / transl[:, 2:].clamp_min(1e-3)
        camera = torch.cat([inv_z, transl[:, :2] * inv_z], 1)  # (1/z, x/z, y/z) of the hand-model origin
        return LandmarkInitPrediction(
            global_orient=go, hand_pose=hp, betas=betas, camera=camera, transl=transl,
            vertices=out.vertices + transl[:, None] if with_vertices else None, joints=joints,
            keypoints_2d=project_points(joints, Kf),
            joint_variance=log_var.clamp(*LOG_VAR_RANGE).exp() * self.sigma_scale.square(),
            euler_angles=angles,
        )

    def forward_batch(self, batch: dict, with_vertices: bool = True) -> LandmarkInitPrediction:
        """The training batch's detector outputs (`det_keypoints`, `det_world`, `K`) -> prediction."""
        return self(batch["det_keypoints"], batch["det_world"], batch["K"], with_vertices)


# -----------------------------------------------------------------------------------------------------------
# The shipped weights: the head only (the hand model's buffers come from the installed asset), safetensors.
HEAD_PREFIXES = ("mlp.", "out.")
CALIBRATION_KEYS = ("sigma_scale",)  # optional in a file (absent: 1, the first shipped checkpoint)


def asset_sha256(model: str = "openhand") -> str | None:
    """SHA-256 of the bundled hand-model asset the network's parameters refer to (None for MANO)."""
    if model != "openhand":
        return None
    import hashlib
    from importlib import resources

    return hashlib.sha256((resources.files("handrecon.assets") / "openhand_right.npz").read_bytes()).hexdigest()


def save_head(net: LandmarkInitNet, path, options: dict, provenance: dict) -> None:
    """Write the trainable weights of `net` (safetensors) with the constructor `options` and `provenance`
    (JSON strings in the file's metadata)."""
    import json

    from safetensors.torch import save_file

    tensors = {k: v.detach().float().contiguous() for k, v in net.state_dict().items()
               if k.startswith(HEAD_PREFIXES) or k in CALIBRATION_KEYS}
    save_file(tensors, str(path), metadata={"options": json.dumps(options), "provenance": json.dumps(provenance)})


def load_head(path) -> tuple[LandmarkInitNet, dict]:
    """(the network of a file written by `save_head`, in eval mode; its provenance). A missing, unreadable or
    mismatched file raises `InputError` with a one-line reason."""
    import json
    from pathlib import Path

    from handrecon.io.errors import InputError

    p = Path(path)
    if not p.is_file():
        raise InputError(p, "no landmark-initialiser checkpoint here (train it: handrecon train landmark-init, "
                            "then python tools/ship_landmark_init.py RUN/checkpoints/last.ckpt)")
    try:
        from safetensors import safe_open

        with safe_open(str(p), framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 - safe_open has no iterator
        options, provenance = json.loads(meta["options"]), json.loads(meta.get("provenance", "{}"))
        net = LandmarkInitNet(**options)
        missing = [k for k in net.state_dict() if k.startswith(HEAD_PREFIXES) and k not in tensors]
        if missing:
            raise ValueError(f"missing weights {missing[:3]}")
        net.load_state_dict(tensors, strict=False)
    except InputError:
        raise
    except Exception as e:  # noqa: BLE001 - any failure: not a usable checkpoint of this network
        raise InputError(p, f"not a usable landmark-initialiser checkpoint ({type(e).__name__}: {e})") from None
    return net.eval(), provenance

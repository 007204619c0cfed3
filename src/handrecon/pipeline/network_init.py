"""The fast path's start of the fit: the landmark network (`nn.landmark_init`) run on the detections.

`PipelineConfig.init = "network"` replaces inverse kinematics on the placed landmarks by one batched pass of
the shipped network over every detected hand; the fit then runs `network_iterations` Levenberg-Marquardt
steps from there. The network predicts right hands: a left hand's inputs are mirrored (x -> -x in the camera
frame: keypoints about the principal point, world landmarks' x negated) and its parameters mirrored back.
Its input world landmarks are the detector's, turned into the camera by PnP against the 2D keypoints; the
fit's 3D term then holds the network's own joints turned onto them (`PipelineConfig.network_shape`).
"""

from __future__ import annotations

import warnings
from importlib import resources
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from handrecon.detect.types import HandDetection
from handrecon.fit.initialize import place_landmarks
from handrecon.fit.torch_threads import single_torch_thread
from handrecon.geometry.rotations import matrix_to_axis_angle
from handrecon.hand.params import HandParams
from handrecon.io.errors import SettingError
from handrecon.nn.landmark_init import asset_sha256, load_head

BUNDLED_CHECKPOINT = "landmark_init.safetensors"


def bundled_checkpoint() -> Path:
    return Path(str(resources.files("handrecon.assets") / BUNDLED_CHECKPOINT))


class NetworkStart(NamedTuple):
    """The network's start of one hand's fit."""

    params: HandParams  # the fit's form: axis-angle wrist, local matrices
    joint_sigma: np.ndarray  # (21,) the network's per-joint 3D sigma, metres
    joints: np.ndarray  # (21, 3) the predicted joints in the camera frame, metres (as the network posed them)


class NetworkInitializer:
    """Detections + K -> the network's start per hand (`NetworkStart`)."""

    def __init__(self, models: dict, checkpoint: str | Path | None = None) -> None:
        self.net, self.provenance = load_head(checkpoint or bundled_checkpoint())
        name = next(iter(models.values())).name
        if name != self.net.hand_model.name:
            raise SettingError("init", f"the network initialiser is trained for the {self.net.hand_model.name} "
                                       f"hand model, not {name}: use init 'ik'")
        self.dtype = next(iter(models.values())).dtype
        trained_on = self.provenance.get("hand_model_asset_sha256")
        if trained_on and trained_on != asset_sha256(name):
            warnings.warn(f"{checkpoint or bundled_checkpoint()}: trained on another version of the {name} hand "
                          "model asset; its starts may be poor until retrained (handrecon train landmark-init)",
                          stacklevel=2)

    @torch.no_grad()
    def __call__(self, dets: list[HandDetection], K: torch.Tensor, placed: list[np.ndarray] | None = None
                 ) -> list[NetworkStart]:
        """Per detection: its `NetworkStart`. `placed`: the
        detections' world landmarks turned into the camera by PnP (`fit.initialize.place_landmarks`), when
        the caller has them already. Runs on one torch thread (`fit.torch_threads`)."""
        if not dets:
            return []
        with single_torch_thread():
            return self._predict(dets, K, placed)

    def _predict(self, dets: list[HandDetection], K: torch.Tensor, placed: list[np.ndarray] | None
                 ) -> list[NetworkStart]:
        Kf = K.detach().to(torch.float32).cpu()
        if placed is None:
            Kn = K.detach().double().cpu().numpy()
            placed = [place_landmarks(d.world, d.keypoints, Kn) for d in dets]
        left = torch.tensor([d.handedness == "left" for d in dets])
        kp = torch.as_tensor(np.stack([d.keypoints for d in dets]), dtype=torch.float32)
        world = torch.as_tensor(np.stack([w - w[:1] for w in placed]), dtype=torch.float32)
        kp[left, :, 0] = 2 * Kf[0, 2] - kp[left, :, 0]
        world[left, :, 0] = -world[left, :, 0]
        pred = self.net(kp, world, Kf.expand(len(dets), 3, 3), with_vertices=False)
        out = []
        for i in range(len(dets)):
            parts = (matrix_to_axis_angle(pred.global_orient[i : i + 1]), pred.hand_pose[i : i + 1],
                     pred.betas[i : i + 1], pred.transl[i : i + 1])
            p = HandParams(*(x.to(self.dtype) for x in parts))  # the fit's form: axis-angle wrist, local matrices
            joints = pred.joints[i].double().numpy()
            if bool(left[i]):  # mirrored back: x -> -x in the camera frame
                p, joints = p.mirrored(), joints * np.array([-1.0, 1.0, 1.0])
            out.append(NetworkStart(p, pred.joint_variance[i].sqrt().double().numpy(), joints))
        return out

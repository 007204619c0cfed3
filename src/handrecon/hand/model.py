"""`HandModel`: a differentiable, MANO-compatible parametric hand (linear blend skinning).

Same interface for the bundled open `openhand` model (default) and for the user's MANO files:

    model = HandModel(side="right")                       # openhand
    model = HandModel(model="mano", mano_dir="~/mano")    # user-supplied MANO_RIGHT.pkl
    out = model(global_orient=(B,3), hand_pose=(B,15,3), betas=(B,10), transl=(B,3))
    out.vertices (B,V,3), out.joints (B,21,3, OpenPose order by default), out.joint_transforms (B,16,4,4)

`joints` are keypoints (where datasets label the hand); `joint_transforms` and `rest_joints` belong to the
skinning skeleton (where the hand bends). They coincide unless the asset has a separate keypoint regressor.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from handrecon.geometry.rotations import axis_angle_to_matrix
from handrecon.hand.asset import HandAsset, load_openhand
from handrecon.hand.keypoints import MANO16_CHILD_POINT, MANO21_NAMES, convert_keypoints
from handrecon.hand.lbs import forward_kinematics, rest_offsets, skin, transforms_matrix
from handrecon.hand.mano_io import load_mano

NUM_HAND_JOINTS = 15


@dataclass
class HandOutput:
    """Result of a forward pass (all in the model / camera frame, metres)."""

    vertices: torch.Tensor | None  # (B, V, 3); None when called with skin_mesh=False
    joints: torch.Tensor  # (B, 21, 3) keypoints in `joint_order`
    world_rotations: torch.Tensor  # (B, 16, 3, 3) posed world rotation of each MANO joint
    world_positions: torch.Tensor  # (B, 16, 3) posed position of each MANO joint (transl included)
    rest_joints: torch.Tensor  # (B, 16, 3) shaped joints before posing (no translation)
    rotations: torch.Tensor  # (B, 16, 3, 3) local joint rotations actually applied (global orient first)
    joint_order: str

    @property
    def joint_transforms(self) -> torch.Tensor:
        """(B, 16, 4, 4) posed world transform of each MANO joint (transl included); built on demand, since
        a fit evaluates the model hundreds of times without it."""
        return transforms_matrix(self.world_rotations, self.world_positions)


def _as_tensor(x, dtype, device) -> torch.Tensor:
    return torch.as_tensor(np.asarray(x), dtype=dtype, device=device)


# Index of each segment's end among the 16 rest joints followed by the 5 rest fingertips (MANO-21), whose rest
# positions give the segment's axis: the middle-finger MCP for the palm (its long axis), the next joint
# along the finger for the phalanges; the last phalanges end at the fingertips.
_SEGMENT_END_INDEX = (MANO21_NAMES.index("middle1"), *MANO16_CHILD_POINT[1:])


def segment_stretch(j_rest: torch.Tensor, tips_rest: torch.Tensor, scales: torch.Tensor) -> torch.Tensor:
    """(B, 16, 3, 3) stretch S_j = I + (s_j - 1) u_j u_j^T along each segment's rest axis u_j.

    j_rest (B, 16, 3) shaped rest joints, tips_rest (B, 5, 3) shaped rest fingertips, scales (B, 16).
    """
    end = torch.as_tensor(_SEGMENT_END_INDEX, device=j_rest.device)
    ends = torch.cat([j_rest, tips_rest], 1)[:, end]
    u = torch.nn.functional.normalize(ends - j_rest, dim=-1)  # (B, 16, 3)
    eye = torch.eye(3, dtype=j_rest.dtype, device=j_rest.device)
    return eye + (scales - 1)[..., None, None] * (u[..., :, None] * u[..., None, :])


class HandModel(nn.Module):
    """Parametric hand: global_orient (B,3), hand_pose (B,15,3), betas (B,S), transl (B,3).

    Rotations may be axis-angle or rotation matrices ((B,3,3) and (B,15,3,3)). With MANO and
    `use_pca=True`, hand_pose is (B, num_pca_comps) coefficients of MANO's pose components; unless
    `flat_hand_mean`, MANO's mean pose is added to axis-angle hand poses (MANO's and smplx's default).
    Inputs are cast to the model's dtype (`model.double()` computes in float64).
    """

    def __init__(
        self,
        side: str = "right",
        model: str = "openhand",
        mano_dir: str | Path | None = None,
        num_betas: int | None = None,
        use_pca: bool = False,
        num_pca_comps: int = 6,
        flat_hand_mean: bool = False,
        asset: HandAsset | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        if side not in ("right", "left"):
            raise ValueError(f"side must be 'right' or 'left', got {side!r}")
        if asset is None:
            if model == "openhand":
                asset = load_openhand(side)
            elif model == "mano":
                if mano_dir is None:
                    raise ValueError("model='mano' needs mano_dir, the folder holding MANO_RIGHT.pkl / MANO_LEFT.pkl")
                asset = load_mano(Path(mano_dir).expanduser(), side)
            else:
                raise ValueError(f"unknown hand model {model!r}; expected 'openhand' or 'mano'")
        self.asset = asset
        self.side = asset.side
        self.name = asset.name
        S = asset.shapedirs.shape[-1]
        self.num_betas = S if num_betas is None else int(num_betas)
        if not 0 < self.num_betas <= S:
            raise ValueError(f"num_betas must be in 1..{S} for the {asset.name} model, got {num_betas}")
        self.use_pca = use_pca
        self.flat_hand_mean = flat_hand_mean
        if use_pca:
            if asset.pose_components is None:
                raise ValueError(f"the {asset.name} model has no pose PCA components; use use_pca=False")
            if not 0 < num_pca_comps <= asset.pose_components.shape[0]:
                raise ValueError(f"num_pca_comps must be in 1..{asset.pose_components.shape[0]}, got {num_pca_comps}")
        self.num_pca_comps = num_pca_comps

        V = asset.num_vertices
        sd = asset.shapedirs[..., : self.num_betas]
        reg = asset.j_regressor
        f = torch.float64
        self.register_buffer("v_template", _as_tensor(asset.v_template, f, None))
        self.register_buffer("shapedirs", _as_tensor(sd.reshape(V * 3, -1), f, None))
        self.register_buffer("j_regressor", _as_tensor(reg, f, None))
        self.register_buffer("j_template", _as_tensor(reg @ asset.v_template, f, None))
        self.register_buffer("j_shapedirs", _as_tensor(np.einsum("jv,vck->jck", reg, sd).reshape(48, -1), f, None))
        # Keypoints (what datasets label) may differ from the skinning joints (where the hand bends).
        kp = asset.kp_regressor
        self.separate_keypoints = kp is not None
        if kp is not None:
            self.register_buffer("kp_template", _as_tensor(kp @ asset.v_template, f, None))
            self.register_buffer("kp_shapedirs", _as_tensor(np.einsum("jv,vck->jck", kp, sd).reshape(48, -1), f, None))
        self.register_buffer("lbs_weights", _as_tensor(asset.weights, f, None))
        if asset.posedirs is not None:
            self.register_buffer("posedirs", _as_tensor(asset.posedirs.reshape(V * 3, -1).T, f, None))
        else:
            self.posedirs = None
        mean = asset.pose_mean if (asset.pose_mean is not None and not flat_hand_mean) else np.zeros(45)
        self.register_buffer("pose_mean", _as_tensor(mean, f, None))
        if use_pca:
            self.register_buffer("pose_components", _as_tensor(asset.pose_components[:num_pca_comps], f, None))
        self.register_buffer("faces", _as_tensor(asset.faces, torch.long, None), persistent=False)
        self.register_buffer("faces_closed", _as_tensor(asset.faces_closed, torch.long, None), persistent=False)
        self.register_buffer("tip_vertex_ids", _as_tensor(asset.tip_vertex_ids, torch.long, None), persistent=False)
        if asset.uv is not None and asset.faces_uv is not None:
            self.register_buffer("uv", _as_tensor(asset.uv, f, None))
            self.register_buffer("faces_uv", _as_tensor(asset.faces_uv, torch.long, None), persistent=False)
        else:
            self.uv = None
            self.faces_uv = None
        self.parents = [int(p) for p in asset.parents]
        self.to(dtype)

    # ------------------------------------------------------------------------------------------
    @property
    def num_vertices(self) -> int:
        return int(self.v_template.shape[0])

    @property
    def num_faces(self) -> int:
        return int(self.faces.shape[0])

    @property
    def cap_face_mask(self) -> torch.Tensor:
        """Bool over `faces_closed`: True for the triangles that close the wrist opening."""
        m = torch.zeros(self.faces_closed.shape[0], dtype=torch.bool, device=self.faces.device)
        m[self.num_faces :] = True
        return m

    @property
    def keypoint_template(self) -> torch.Tensor:
        """(16, 3) rest-pose keypoints of the template (MANO-16 order): where datasets label the joints."""
        return self.kp_template if self.separate_keypoints else self.j_template

    def rest_keypoints(self, betas: torch.Tensor | None, B: int) -> torch.Tensor:
        """(B, 16, 3) shaped rest-pose keypoints (the skinning joints when the model has no separate ones)."""
        if not self.separate_keypoints:
            return self.shaped(betas, B, self.tip_vertex_ids)[1]
        if betas is None:
            return self.kp_template.expand(B, -1, -1)
        S = betas.shape[1]
        return self.kp_template + (betas @ self.kp_shapedirs[:, :S].T).reshape(B, 16, 3)

    @property
    def dtype(self) -> torch.dtype:
        return self.v_template.dtype

    @property
    def device(self) -> torch.device:
        return self.v_template.device

    # ------------------------------------------------------------------------------------------
    def _batch_size(self, *xs: torch.Tensor | None) -> int:
        sizes = {int(x.shape[0]) for x in xs if x is not None}
        if len(sizes) > 1:
            raise ValueError(f"inputs disagree on the batch size: {sorted(sizes)}")
        return sizes.pop() if sizes else 1

    def _prep(self, x) -> torch.Tensor | None:
        if x is None:
            return None
        x = torch.as_tensor(x)
        if not torch.is_floating_point(x):
            x = x.to(self.dtype)
        return x.to(dtype=self.dtype, device=self.device)

    def _rotations(self, global_orient: torch.Tensor | None, hand_pose: torch.Tensor | None, B: int) -> torch.Tensor:
        eye = torch.eye(3, dtype=self.dtype, device=self.device)
        if global_orient is None:
            go = eye.expand(B, 1, 3, 3)
        elif global_orient.dim() >= 3 and global_orient.shape[-2:] == (3, 3) and global_orient.numel() == B * 9:
            go = global_orient.reshape(B, 1, 3, 3)
        elif global_orient.dim() == 2 and global_orient.shape == (B, 3):
            go = axis_angle_to_matrix(global_orient.reshape(B, 1, 3))
        else:
            raise ValueError(f"global_orient must be (B, 3) axis-angle or (B, 3, 3), got {tuple(global_orient.shape)}")

        if hand_pose is None:
            aa = self.pose_mean.reshape(1, 15, 3).expand(B, 15, 3)
            hp = axis_angle_to_matrix(aa)
        elif hand_pose.dim() == 4 and hand_pose.shape[1:] == (15, 3, 3):
            hp = hand_pose.reshape(B, 15, 3, 3)
        elif self.use_pca:
            if hand_pose.shape != (B, self.num_pca_comps):
                raise ValueError(
                    f"with use_pca, hand_pose must be (B, {self.num_pca_comps}), got {tuple(hand_pose.shape)}"
                )
            aa = hand_pose @ self.pose_components + self.pose_mean
            hp = axis_angle_to_matrix(aa.reshape(B, 15, 3))
        elif hand_pose.shape in ((B, 15, 3), (B, 45)):
            aa = hand_pose.reshape(B, 45) + self.pose_mean
            hp = axis_angle_to_matrix(aa.reshape(B, 15, 3))
        else:
            raise ValueError(
                f"hand_pose must be (B, 15, 3) axis-angle, (B, 45) or (B, 15, 3, 3), got {tuple(hand_pose.shape)}"
            )
        return torch.cat([go, hp], 1)

    def shaped(
        self, betas: torch.Tensor | None, B: int, vertex_ids: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Rest-pose vertices (B, V, 3) (or only `vertex_ids`) and joints (B, 16, 3) for shape coefficients."""
        template = self.v_template if vertex_ids is None else self.v_template[vertex_ids]
        if betas is None:
            return template.expand(B, -1, -1), self.j_template.expand(B, -1, -1)
        if betas.dim() != 2 or betas.shape[1] > self.num_betas:
            raise ValueError(f"betas must be (B, <= {self.num_betas}), got {tuple(betas.shape)}")
        S = betas.shape[1]
        dirs = self.shapedirs[:, :S]
        if vertex_ids is not None:
            dirs = dirs.view(-1, 3, dirs.shape[-1])[vertex_ids].reshape(-1, S)
        v = template + (betas @ dirs.T).reshape(B, -1, 3)
        j = self.j_template + (betas @ self.j_shapedirs[:, :S].T).reshape(B, 16, 3)
        return v, j

    def forward(
        self,
        global_orient: torch.Tensor | None = None,
        hand_pose: torch.Tensor | None = None,
        betas: torch.Tensor | None = None,
        transl: torch.Tensor | None = None,
        joint_order: str = "openpose",
        skin_mesh: bool = True,
        bone_scales: torch.Tensor | None = None,
        vertex_ids: torch.Tensor | None = None,
    ) -> HandOutput:
        """Posed mesh and joints. With `skin_mesh=False` only the joints are computed (the fingertips are the
        only vertices skinned), which is what keypoint fitting needs; `vertex_ids` (m,) then also skins those
        vertices, returned as `vertices` (B, m, 3) (what a fit with surface terms on a few vertices needs).

        bone_scales (B, 16), optional: length scale of the segment skinned to each MANO joint (palm, then the
        15 phalanges), stretching it along its rest axis; adapts finger proportions beyond the shape space.
        """
        global_orient, hand_pose, betas, transl, bone_scales = map(
            self._prep, (global_orient, hand_pose, betas, transl, bone_scales)
        )
        B = self._batch_size(global_orient, hand_pose, betas, transl, bone_scales)
        if transl is not None and transl.shape != (B, 3):
            raise ValueError(f"transl must be (B, 3), got {tuple(transl.shape)}")
        rot = self._rotations(global_orient, hand_pose, B)
        ids = None if skin_mesh else self.tip_vertex_ids
        if vertex_ids is not None and not skin_mesh:
            ids = torch.cat([ids, torch.as_tensor(vertex_ids, dtype=torch.long, device=ids.device)])
        v_shaped, j_rest = self.shaped(betas, B, ids)
        if self.posedirs is not None:
            eye = torch.eye(3, dtype=self.dtype, device=self.device)
            feat = (rot[:, 1:] - eye).reshape(B, -1)
            pd = self.posedirs if ids is None else self.posedirs.view(135, -1, 3)[:, ids].reshape(135, -1)
            v_shaped = v_shaped + (feat @ pd).reshape(B, -1, 3)
        if bone_scales is None:
            G_R, G_t = forward_kinematics(rot, j_rest, self.parents)
            M = G_R
        else:
            if bone_scales.shape != (B, 16):
                raise ValueError(f"bone_scales must be (B, 16), got {tuple(bone_scales.shape)}")
            tips_rest = v_shaped[:, self.tip_vertex_ids] if skin_mesh else v_shaped[:, :5]
            S = segment_stretch(j_rest, tips_rest, bone_scales)
            offsets = rest_offsets(j_rest, self.parents, S)
            G_R, G_t = forward_kinematics(rot, j_rest, self.parents, offsets=offsets)
            M = G_R @ S
        if skin_mesh:
            verts = skin(v_shaped, self.lbs_weights, M, G_t, j_rest)
            tips = verts[:, self.tip_vertex_ids]
        else:
            verts = skin(v_shaped, self.lbs_weights[ids], M, G_t, j_rest)
            verts, tips = (verts[:, 5:] if vertex_ids is not None else None), verts[:, :5]
        if self.separate_keypoints:
            # Keypoint k moves rigidly with the bone of joint k (as a vertex skinned to it alone would).
            offset = self.rest_keypoints(betas, B) - j_rest
            keypoints = (M @ offset[..., None])[..., 0] + G_t
        else:
            keypoints = G_t
        if transl is not None:
            verts = None if verts is None else verts + transl[:, None]
            tips = tips + transl[:, None]
            G_t = G_t + transl[:, None]
            keypoints = keypoints + transl[:, None]
        joints21 = torch.cat([keypoints, tips], 1)
        joints = convert_keypoints(joints21, "mano", joint_order) if joint_order != "mano" else joints21
        return HandOutput(
            vertices=verts,
            joints=joints,
            world_rotations=G_R,
            world_positions=G_t,
            rest_joints=j_rest,
            rotations=rot,
            joint_order=joint_order,
        )

    def extra_repr(self) -> str:
        return f"name={self.name}, side={self.side}, vertices={self.num_vertices}, num_betas={self.num_betas}"

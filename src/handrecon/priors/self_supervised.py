"""Self-supervised losses of S2HAND (Chen et al., model-based 3D hand reconstruction via self-supervised
learning; sec. 3.4).

Training signals come from noisy detected 2D keypoints J^de with per-keypoint confidences con_i in [0, 1]
and from the input image itself. Keypoints are 21 per hand in OpenPose order (pixels); images are
channels-first (B, C, H, W) in [0, 1]; silhouettes (B, H, W) or (B, 1, H, W), binary or soft.

Every function returns the per-sample value of its equation reduced over the batch by `reduction`
(default: mean over the batch).

The shape regulariser E_beta = ||beta|| is `handrecon.priors.knowledge.shape_regularizer`. The joint-angle
regulariser E_J is built on `handrecon.hand.anatomy` and is not part of this module.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from handrecon.hand.keypoints import OPENPOSE_NAMES, bone_vectors, bones
from handrecon.priors.masks import broadcast_mask
from handrecon.priors.reduction import Reduction, check_same_shape, reduce_batch
from handrecon.render.image_similarity import ssim

# E_s: the reference bone whose length fixes the hand's size (OpenPose indices) and its length in metres.
SCALE_REFERENCE_BONE: tuple[int, int] = (OPENPOSE_NAMES.index("middle_mcp"), OPENPOSE_NAMES.index("middle_pip"))
SCALE_REFERENCE_LENGTH: float = 0.0282


def _confidence(confidence: torch.Tensor, keypoints: torch.Tensor) -> torch.Tensor:
    """(B, K) or (B, K, 1) confidences -> (B, K) in the keypoints' dtype/device."""
    c = confidence.to(dtype=keypoints.dtype, device=keypoints.device)
    if c.dim() == 3 and c.shape[-1] == 1:
        c = c[..., 0]
    if c.shape != keypoints.shape[:2]:
        raise ValueError(
            f"confidence of shape {tuple(confidence.shape)} does not fit keypoints {tuple(keypoints.shape)}"
        )
    return c


def _smooth_l1_per_keypoint(a: torch.Tensor, b: torch.Tensor, beta: float) -> torch.Tensor:
    """SmoothL1 of Fast R-CNN summed over the coordinates of each keypoint: (B, K, 2) x2 -> (B, K).

    Per coordinate: 0.5 x^2 / beta for |x| < beta, |x| - 0.5 beta otherwise (beta in pixels).
    """
    check_same_shape(a=a, b=b)
    if a.dim() != 3:
        raise ValueError(f"expected keypoints of shape (B, K, 2), got {tuple(a.shape)}")
    return F.smooth_l1_loss(a, b, reduction="none", beta=beta).sum(-1)


def joint_location_loss(
    projected: torch.Tensor,
    detected: torch.Tensor,
    confidence: torch.Tensor,
    beta: float = 1.0,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """Eq. 3: E_loc = (1/k) sum_i con_i * SmoothL1(j_i^de, j_i^pro).

    projected, detected: (B, K, 2) pixels; confidence: (B, K) or (B, K, 1). The mean over the k keypoints
    divides by k (not by the summed confidence), so low-confidence samples weigh less overall.
    """
    c = _confidence(confidence, detected)
    return reduce_batch((c * _smooth_l1_per_keypoint(projected, detected, beta)).mean(1), reduction)


def bone_orientation_loss(
    projected: torch.Tensor,
    detected: torch.Tensor,
    confidence: torch.Tensor,
    order: str = "openpose",
    eps: float = 1e-6,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """Eq. 4: E_ori = (1/m) sum_i con_i^bone * ||nu_i^de - nu_i^pro||^2 over the m = 20 bones.

    nu are unit 2D bone vectors (child minus parent, `handrecon.hand.keypoints.bones(order)`), and
    con_i^bone is the product of the confidences of the bone's two detected keypoints. `eps` guards the
    normalisation of zero-length bones.
    """
    check_same_shape(projected=projected, detected=detected)
    c = _confidence(confidence, detected)
    nu_pro = F.normalize(bone_vectors(projected, order), dim=-1, eps=eps)
    nu_de = F.normalize(bone_vectors(detected, order), dim=-1, eps=eps)
    pairs = bones(order)
    parent = torch.as_tensor([p for p, _ in pairs], device=c.device)
    child = torch.as_tensor([q for _, q in pairs], device=c.device)
    con_bone = c.index_select(1, parent) * c.index_select(1, child)
    return reduce_batch((con_bone * ((nu_de - nu_pro) ** 2).sum(-1)).mean(1), reduction)


def geometric_alignment_loss(
    projected: torch.Tensor,
    detected: torch.Tensor,
    confidence: torch.Tensor,
    orientation_weight: float,
    beta: float = 1.0,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """Eq. 5: E_geo = E_loc + w_ori * E_ori."""
    per_sample = joint_location_loss(projected, detected, confidence, beta, "none") + orientation_weight * (
        bone_orientation_loss(projected, detected, confidence, reduction="none")
    )
    return reduce_batch(per_sample, reduction)


def pixel_loss(
    rendered: torch.Tensor,
    image: torch.Tensor,
    silhouette: torch.Tensor,
    confidence: torch.Tensor,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """Eq. 6: E_pixel = con_sum / |S^re| * sum_{(u,v) in S^re} ||I_uv - I^re_uv||_2.

    The per-pixel distance is the Euclidean norm over the colour channels, averaged over the rendered
    silhouette S^re (a soft silhouette weights each pixel; |S^re| is then its sum), and scaled by con_sum,
    the sum of the K detection confidences of the sample (B, K). An empty silhouette gives 0. rendered: the
    rendering I^re, image: the input I, both (B, C, H, W).
    """
    check_same_shape(rendered=rendered, image=image)
    s = broadcast_mask(silhouette, image)[:, 0]
    con_sum = confidence.to(dtype=image.dtype, device=image.device).reshape(image.shape[0], -1).sum(1)
    dist = torch.linalg.vector_norm(image - rendered, dim=1)
    area = s.sum((1, 2))
    mean_dist = (s * dist).sum((1, 2)) / torch.where(area > 0, area, torch.ones_like(area))
    return reduce_batch(con_sum * mean_dist, reduction)


def ssim_loss(
    rendered: torch.Tensor, image: torch.Tensor, silhouette: torch.Tensor, reduction: Reduction = "mean"
) -> torch.Tensor:
    """Eq. 7: E_SSIM = 1 - SSIM(I * S^re, I^re): the input restricted to the rendered silhouette against the
    rendering, SSIM over the whole image (`handrecon.render.image_similarity.ssim`: Gaussian window 11, sigma 1.5;
    images of at least 11x11 pixels)."""
    check_same_shape(rendered=rendered, image=image)
    masked = image * broadcast_mask(silhouette, image)
    return reduce_batch(1.0 - ssim(masked, rendered), reduction)


def photometric_loss(
    rendered: torch.Tensor,
    image: torch.Tensor,
    silhouette: torch.Tensor,
    confidence: torch.Tensor,
    ssim_weight: float,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """Eq. 8: E_photo = E_pixel + w_SSIM * E_SSIM."""
    per_sample = pixel_loss(rendered, image, silhouette, confidence, "none") + ssim_weight * ssim_loss(
        rendered, image, silhouette, "none"
    )
    return reduce_batch(per_sample, reduction)


def texture_regularizer(
    vertex_colors: torch.Tensor, num_std: float = 2.0, reduction: Reduction = "mean"
) -> torch.Tensor:
    """E_C (sec. 3.4.1): penalise outlier per-vertex RGB values, vertex_colors (B, V, 3).

    A value is an outlier when it lies more than `num_std` standard deviations from its sample's mean of
    that channel over the vertices; it costs its distance |c - mean| to that mean, inliers cost nothing.
    The result is averaged over vertices and channels. The statistics are held fixed (no gradient), so the
    gradient pulls only the outliers towards the mean colour.
    """
    if vertex_colors.dim() != 3:
        raise ValueError(f"expected vertex colours of shape (B, V, C), got {tuple(vertex_colors.shape)}")
    mean = vertex_colors.mean(1, keepdim=True).detach()
    std = vertex_colors.std(1, keepdim=True).detach()
    dev = (vertex_colors - mean).abs()
    penalty = torch.where(dev > num_std * std, dev, torch.zeros_like(dev))
    return reduce_batch(penalty.mean((1, 2)), reduction)


def scale_regularizer(
    joints: torch.Tensor,
    reference_length: float = SCALE_REFERENCE_LENGTH,
    bone: tuple[int, int] = SCALE_REFERENCE_BONE,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """E_s (sec. 3.4.1): keep the hand at a plausible metric size, which fixes its depth under perspective.

    |len(bone) - reference_length| for the reference bone, by default the middle finger's MCP-PIP bone of
    OpenPose-21 joints (B, 21, 3) in metres, with the S2HAND reference length 0.0282 m.
    """
    if joints.dim() != 3:
        raise ValueError(f"expected joints of shape (B, J, 3), got {tuple(joints.shape)}")
    length = torch.linalg.vector_norm(joints[:, bone[0]] - joints[:, bone[1]], dim=-1)
    return reduce_batch((length - reference_length).abs(), reduction)


def keypoint_branch_loss(
    estimated: torch.Tensor,
    detected: torch.Tensor,
    confidence: torch.Tensor,
    beta: float = 1.0,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """Eq. 10: E_2d, the joint location loss of eq. 3 applied to the 2D branch's keypoints j^2d."""
    return joint_location_loss(estimated, detected, confidence, beta, reduction)


def consistency_loss(
    projected: torch.Tensor, estimated: torch.Tensor, beta: float = 1.0, reduction: Reduction = "mean"
) -> torch.Tensor:
    """Eq. 11: E_con = (1/k) sum_i SmoothL1(j_i^pro, j_i^2d), linking the 3D branch's projection with the
    2D branch (unweighted: both are predictions)."""
    return reduce_batch(_smooth_l1_per_keypoint(projected, estimated, beta).mean(1), reduction)


def joint_angle_regularizer(
    joints: torch.Tensor,
    side: str = "right",
    rom: torch.Tensor | None = None,
    order: str = "openpose",
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """E_J of sec. 3.4.1: squared excess of each joint's bend and splay over its feasible range, from 3D
    keypoints (B, 21, 3) (model-free predictions included).

    The angles and ranges are handrecon's anatomy (`hand.anatomy.keypoint_angles`, `hand.rom`) rather than
    S2HAND's azimuth/pitch/roll per bone, whose exact limits are in an appendix the project does not have:
    the same idea (penalise angles beyond a feasible range), with ranges from the hand-biomechanics
    literature. Twist is not observable from joint positions and is not constrained.
    """
    from handrecon.hand.anatomy import keypoint_angles
    from handrecon.hand.rom import range_of_motion
    from handrecon.priors.knowledge import range_violation

    rom = range_of_motion(joints.dtype, joints.device) if rom is None else rom
    angles = keypoint_angles(joints, side, order)
    v = range_violation(angles, rom[:, :2])
    return reduce_batch(v.square().sum((1, 2)), reduction)

"""Two-hand losses of the interaction-prior method (Zuo et al., reconstructing interacting hands with an
interaction prior from monocular images): interaction adjacency
heatmap (IAH) targets (eq. 1), the 2D feature loss (eq. 2), the interaction-prior VAE loss (eq. 4) and the
normal-consistency loss on meshes (sec. 3.3).

The two-hand penetration loss is not part of this module (see the penetration prior).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F

from handrecon.geometry.mesh import face_normals
from handrecon.priors.gaussian import kl_standard_normal
from handrecon.priors.reduction import Reduction, check_same_shape, reduce_batch, sum_per_sample

# Sec. 3.1, implementation details: Laplacian scale of the identity joint, zoom factor of the adjacent
# joints' kernels, side of the square adjacency window (heatmap pixels).
IAH_SIGMA: float = 2.0
IAH_ALPHA: float = 2.0
IAH_ADJACENCY: float = 2.5
# Sec. 3.2: the latent size of the interaction-prior VAE.
LATENT_DIM: int = 128


@dataclass
class InteractionLossWeights:
    """Loss weights inside the paper's equations: lambda1 (saliency) and lambda2 (relative translation) of
    eq. 2 (sec. 3.1), lambda3 (VAE reconstruction) of eq. 4 (sec. 3.2)."""

    saliency: float = 1.0
    translation: float = 2000.0
    reconstruction: float = 100.0


def adjacency(joints_2d: torch.Tensor, size: float = IAH_ADJACENCY, valid: torch.Tensor | None = None) -> torch.Tensor:
    """The adjacency sets A_j(d) of eq. 1 as a boolean matrix (B, N, N): A[b, j, k] is True when joint k
    lies in the d x d window centred on joint j, i.e. |u_k - u_j| <= d/2 and |v_k - v_j| <= d/2, with k != j.

    joints_2d (B, N, 2) are (u, v) in heatmap pixels, the unit of d; the N joints are those of both hands
    (N = 42), so a joint of either hand can be adjacent. Joints with valid == 0 are never adjacent.
    """
    if joints_2d.dim() != 3 or joints_2d.shape[-1] != 2:
        raise ValueError(f"expected 2D joints of shape (B, N, 2), got {tuple(joints_2d.shape)}")
    diff = (joints_2d[:, :, None, :] - joints_2d[:, None, :, :]).abs()
    adj = (diff <= size / 2).all(-1)
    n = joints_2d.shape[1]
    adj = adj & ~torch.eye(n, dtype=torch.bool, device=joints_2d.device)
    if valid is not None:
        v = valid.to(device=joints_2d.device).bool()
        adj = adj & v[:, :, None] & v[:, None, :]
    return adj


def _laplacian_maps(joints_2d: torch.Tensor, height: int, width: int, scale: float) -> torch.Tensor:
    """1/(2 b) exp(-(|u - u_j| + |v - v_j|) / b) on the pixel grid, (B, N, 2) -> (B, N, H, W) (separable)."""
    u = torch.arange(width, dtype=joints_2d.dtype, device=joints_2d.device)
    v = torch.arange(height, dtype=joints_2d.dtype, device=joints_2d.device)
    eu = torch.exp(-(u - joints_2d[..., 0:1]).abs() / scale)  # (B, N, W)
    ev = torch.exp(-(v - joints_2d[..., 1:2]).abs() / scale)  # (B, N, H)
    return ev[..., :, None] * eu[..., None, :] / (2.0 * scale)


def interaction_adjacency_heatmaps(
    joints_2d: torch.Tensor,
    height: int,
    width: int,
    sigma: float = IAH_SIGMA,
    alpha: float = IAH_ALPHA,
    adjacency_size: float = IAH_ADJACENCY,
    valid: torch.Tensor | None = None,
) -> torch.Tensor:
    """Eq. 1, the IAH ground truth H*_j for every joint: (B, N, 2) -> (B, N, H, W).

        H*_j(u, v) = 1/(2 sigma) exp(-(|u - u_j| + |v - v_j|) / sigma)
                   + sum_{k in A_j(d)} 1/(2 alpha sigma) exp(-(|u - u_k| + |v - v_k|) / (alpha sigma))

    Units: joints, sigma and d are in heatmap pixels; pixel (row v, column u) is evaluated at the integer
    coordinates (u, v), so a joint at (u_j, v_j) = (3, 5) peaks at row 5, column 3. Normalisation: each
    kernel carries the 1/(2 b) factor of eq. 1 (that of a 1D Laplace density with scale b), so the identity
    kernel peaks at 1/(2 sigma) = 0.25 and an adjacent one at 1/(2 alpha sigma) = 0.125 with the defaults;
    maps are not renormalised. Adjacency: see `adjacency` (k != j, inside the d x d window centred on j, both
    hands). Joints with valid == 0 get an all-zero map and contribute to no other map.
    """
    own = _laplacian_maps(joints_2d, height, width, sigma)
    wide = _laplacian_maps(joints_2d, height, width, alpha * sigma)
    adj = adjacency(joints_2d, adjacency_size, valid).to(own.dtype)
    heatmaps = own + torch.einsum("bjk,bkhw->bjhw", adj, wide)
    if valid is not None:
        heatmaps = heatmaps * valid.to(dtype=own.dtype, device=own.device)[:, :, None, None]
    return heatmaps


def feature_2d_loss(
    pred_heatmaps: torch.Tensor,
    target_heatmaps: torch.Tensor,
    pred_saliency: torch.Tensor,
    target_saliency: torch.Tensor,
    pred_translation: torch.Tensor,
    target_translation: torch.Tensor,
    saliency_weight: float = InteractionLossWeights.saliency,
    translation_weight: float = InteractionLossWeights.translation,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """Eq. 2: L_2D = sum_j ||H_j - H*_j||^2 + lambda1 ||M - M*||^2 + lambda2 ||tau - tau*||^2.

    Heatmaps (B, 42, H, W), instance saliency maps (B, 2, H, W) (left, right), left-to-right relative
    translation (B, 3). Squared L2 norms: sums over every pixel/coordinate of a sample.
    """
    check_same_shape(pred_heatmaps=pred_heatmaps, target_heatmaps=target_heatmaps)
    check_same_shape(pred_saliency=pred_saliency, target_saliency=target_saliency)
    check_same_shape(pred_translation=pred_translation, target_translation=target_translation)
    per_sample = (
        sum_per_sample((pred_heatmaps - target_heatmaps) ** 2)
        + saliency_weight * sum_per_sample((pred_saliency - target_saliency) ** 2)
        + translation_weight * sum_per_sample((pred_translation - target_translation) ** 2)
    )
    return reduce_batch(per_sample, reduction)


def vae_prior_loss(
    reconstruction: torch.Tensor,
    target: torch.Tensor,
    latent_mean: torch.Tensor,
    latent_var: torch.Tensor,
    reconstruction_weight: float = InteractionLossWeights.reconstruction,
    reconstruction_reduction: Literal["mean", "sum"] = "mean",
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """Eq. 4: L_prior = L_KL(z) + lambda3 ||x_hat - x||^2 for the interaction-prior VAE.

    L_KL(z) = KL(N(mu, diag(var)) || N(0, I)) summed over the latent dimensions (B, d_z). The
    reconstruction of the flattened input (B, ...) is the mean squared error over its elements by default
    (the text names it MSE); "sum" gives the literal squared norm of eq. 4.
    """
    check_same_shape(reconstruction=reconstruction, target=target)
    check_same_shape(latent_mean=latent_mean, latent_var=latent_var)
    sq = (reconstruction - target) ** 2
    if reconstruction_reduction == "mean":
        rec = sq.reshape(sq.shape[0], -1).mean(1)
    elif reconstruction_reduction == "sum":
        rec = sum_per_sample(sq)
    else:
        raise ValueError(f"unknown reconstruction_reduction {reconstruction_reduction!r}; expected 'mean' or 'sum'")
    kl = sum_per_sample(kl_standard_normal(latent_mean, latent_var))
    return reduce_batch(kl + reconstruction_weight * rec, reduction)


def normal_consistency_loss(
    pred_vertices: torch.Tensor, target_vertices: torch.Tensor, faces: torch.Tensor, reduction: Reduction = "mean"
) -> torch.Tensor:
    """Normal loss on meshes (sec. 3.3, the definition of I2L-MeshNet and IntagHand, refs. 42 and 34):

        L_normal = mean_f mean_{(i,j) edge of f} |< (v_i - v_j) / ||v_i - v_j||, n*_f >|

    where v are predicted vertices (B, V, 3) and n*_f the unit normal of face f (F, 3) on the ground-truth
    mesh. Each predicted edge should lie in the plane of its ground-truth face, so the loss is 0 when the
    prediction equals the target (or any translated / uniformly scaled copy: it constrains orientation,
    not position). Two-hand meshes are passed as one mesh (concatenated vertices, offset faces).
    """
    check_same_shape(pred_vertices=pred_vertices, target_vertices=target_vertices)
    f = faces.to(device=pred_vertices.device, dtype=torch.long)
    n_gt = face_normals(target_vertices, f)  # (B, F, 3)
    v0, v1, v2 = (pred_vertices[:, f[:, i]] for i in range(3))
    edges = torch.stack([v1 - v0, v2 - v1, v0 - v2], 2)  # (B, F, 3 edges, 3)
    edges = F.normalize(edges, dim=-1, eps=1e-12)
    cos = (edges * n_gt[:, :, None, :]).sum(-1).abs()
    return reduce_batch(cos.mean((1, 2)), reduction)

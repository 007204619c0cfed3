"""Diagonal-Gaussian formulas shared by the probabilistic losses (AMVUR attention model, interaction-prior
VAE): negative log-likelihood, closed-form KL divergence and reparameterised sampling.

Every Gaussian is given by its mean and its *variance* (not the standard deviation, not the log-variance),
elementwise, so N(mean, diag(var)). The functions return elementwise terms with the shape of the broadcast
inputs; summing them over a set of dimensions gives the NLL / KL of the joint diagonal Gaussian over those
dimensions. Callers choose the sum and the batch reduction (see `handrecon.priors.reduction`).
"""

from __future__ import annotations

import math

import torch

LOG_2PI = math.log(2.0 * math.pi)


def gaussian_nll(mean: torch.Tensor, target: torch.Tensor, var: torch.Tensor) -> torch.Tensor:
    """-log N(target; mean, var) per element: 0.5 * ((target - mean)^2 / var + log var + log 2 pi).

    Arguments in the order of `torch.nn.functional.gaussian_nll_loss`: prediction, target, variance.

    Minimised over `mean` at mean = target, and over `var` at var = (target - mean)^2.
    """
    return 0.5 * ((target - mean) ** 2 / var + torch.log(var) + LOG_2PI)


def kl_diag_gaussians(
    mean_q: torch.Tensor, var_q: torch.Tensor, mean_p: torch.Tensor, var_p: torch.Tensor
) -> torch.Tensor:
    """KL(N(mean_q, var_q) || N(mean_p, var_p)) per element (closed form):

    0.5 * (log(var_p / var_q) - 1 + (var_q + (mean_q - mean_p)^2) / var_p).

    Non-negative, and zero exactly when both mean and variance agree.
    """
    return 0.5 * (torch.log(var_p) - torch.log(var_q) - 1.0 + (var_q + (mean_q - mean_p) ** 2) / var_p)


def kl_standard_normal(mean: torch.Tensor, var: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, var) || N(0, 1)) per element: 0.5 * (var + mean^2 - 1 - log var)."""
    return 0.5 * (var + mean**2 - 1.0 - torch.log(var))


def reparameterize(
    mean: torch.Tensor, var: torch.Tensor, generator: torch.Generator | None = None, num_samples: int | None = None
) -> torch.Tensor:
    """Sample mean + sqrt(var) * eps with eps ~ N(0, I), differentiable in mean and var.

    `generator` makes the draw reproducible (it must live on the tensors' device). With `num_samples`
    the result gains a leading sample dimension: (num_samples, *mean.shape).
    """
    mean, var = torch.broadcast_tensors(mean, var)
    shape = mean.shape if num_samples is None else (num_samples, *mean.shape)
    eps = torch.randn(shape, generator=generator, dtype=mean.dtype, device=mean.device)
    return mean + var.sqrt() * eps

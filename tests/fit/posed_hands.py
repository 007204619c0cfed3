"""A known hand for fit tests: a random pose inside the model's ranges of motion (zero-width ranges stay
zero), palm towards the camera with the fingers up, 0.55 m in front of it."""

import math

import torch

from handrecon.priors.knowledge import AnatomicalPosePrior

F64 = torch.float64


def posed_hand(model, g: torch.Generator, spread: float):
    """(model output, hand_pose rotations): each angle drawn in the lower `spread` of its range from `g`
    (callers keep drawing their noise from the same generator)."""
    prior = AnatomicalPosePrior.from_hand_model(model)
    rom = prior.rom
    angles = rom[..., 0] + torch.rand(1, 15, 3, generator=g, dtype=F64) * (rom[..., 1] - rom[..., 0]) * spread
    angles[..., 1:] = angles[..., 1:] * (rom[..., 1, 1] > rom[..., 1, 0])[..., None]
    R = prior.anatomy.euler_to_rotations(angles)
    out = model(
        global_orient=torch.tensor([[math.pi, 0.2, 0.1]], dtype=F64),
        hand_pose=R,
        transl=torch.tensor([[0.02, 0.08, 0.55]], dtype=F64),
    )
    return out, R

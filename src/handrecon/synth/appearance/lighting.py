"""Random lighting for synthetic samples in the S2HAND 11-value convention of `handrecon.render.shading`.

The stored vector (ambient intensity and colour, directional intensity and colour, direction towards the
light in the camera frame) describes the key light exactly; the skin shader adds effects the vector
cannot hold (sky/ground ambient gradient, wrapped diffuse, specular sheen), see `synth.appearance.skin_shading`.
"""

from __future__ import annotations

import numpy as np
import torch

from handrecon.render.shading import make_lighting

WARM = np.array([1.0, 0.86, 0.72])  # tungsten-like
COOL = np.array([0.86, 0.93, 1.0])  # overcast daylight-like


def random_lighting(rng: np.random.Generator) -> torch.Tensor:
    """(11,) lighting vector: ambient + one directional light, mostly from the camera's side."""
    tint = WARM + (COOL - WARM) * rng.random()
    tint = tint / tint.max()
    env = rng.uniform(0.6, 1.0, 3)
    env = 0.7 * tint + 0.3 * env / env.max()
    direction = rng.standard_normal(3)
    direction /= np.linalg.norm(direction)
    if rng.random() < 0.85:  # light from the camera's hemisphere (towards -z)
        direction[2] = -abs(direction[2]) - rng.uniform(0.2, 1.0)
        direction /= np.linalg.norm(direction)
    ambient = rng.uniform(0.25, 0.6)
    directional = rng.uniform(0.45, 1.05)
    exposure = 1.0 / max(ambient + 0.6 * directional, 0.6)  # keep the overall level in a camera-like range
    return make_lighting(
        ambient=ambient * exposure,
        ambient_color=tuple(env.tolist()),
        directional=directional * exposure,
        directional_color=tuple(tint.tolist()),
        direction=tuple(direction.tolist()),
    )[0]

"""Per-sample random streams derived from (seed, index), so a sample never depends on which worker made it.

Each sample gets independent streams for its stages (pose, placement, appearance, detection...). Drawing
a different number of pose candidates (rejection sampling) therefore never shifts the appearance of the
same sample, and a sample is identical whatever batch, worker or order produced it.
"""

from __future__ import annotations

import numpy as np

STAGES: tuple[str, ...] = ("pose", "placement", "appearance", "occluders", "effects", "detection", "second_hand", "arm")


def sample_streams(seed: int, index: int) -> dict[str, np.random.Generator]:
    """One independent numpy Generator per stage in `STAGES` for sample `index` of the set with `seed`."""
    if index < 0:
        raise ValueError(f"sample index must be non-negative, got {index}")
    children = np.random.SeedSequence([int(seed) & 0xFFFFFFFF, int(seed) >> 32, int(index)]).spawn(len(STAGES))
    return {name: np.random.Generator(np.random.PCG64(c)) for name, c in zip(STAGES, children, strict=True)}


def fixed_generator(tag: str) -> np.random.Generator:
    """A generator that depends only on `tag`: for shared banks (noise maps) built identically in every process."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(list(tag.encode()))))

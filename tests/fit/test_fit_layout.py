"""The fit's parameter-row layout: named parts land where the solver's rows hold them, and back."""

import torch

from handrecon.fit.layout import TEMPORAL_TRANSL_UNITS_PER_M, ParameterLayout, ResidualLayout


def test_split_and_join_are_inverse_and_cover_the_row():
    layout = ParameterLayout(num_betas=10)
    assert layout.size == 77
    x = torch.arange(2 * 77, dtype=torch.float64).reshape(2, 77)
    parts = layout.split(x)
    assert parts.global_orient.shape == (2, 3) and parts.angles.shape == (2, 15, 3)
    assert parts.betas.shape == (2, 10) and parts.transl.shape == (2, 3) and parts.log_scales.shape == (2, 16)
    assert parts.betas[0, 0] == 48 and parts.transl[0, 0] == 58 and parts.log_scales[0, -1] == 76
    assert torch.equal(layout.join(*parts), x)
    assert ParameterLayout.of_rows(torch.zeros(1, 67 + 4)).num_betas == 4


def test_temporal_units_scale_only_the_translation():
    layout = ParameterLayout(num_betas=2)
    x = torch.ones(1, layout.size, dtype=torch.float64)
    t = layout.temporal_units(x)
    assert torch.equal(t[:, layout.transl], torch.full((1, 3), TEMPORAL_TRANSL_UNITS_PER_M, dtype=torch.float64))
    keep = torch.ones(layout.size, dtype=torch.bool)
    keep[layout.transl] = False
    assert torch.equal(t[:, keep], x[:, keep])


def test_residual_energies_by_block():
    layout = ResidualLayout(num_betas=10)
    sizes = layout.blocks()
    r = torch.cat([torch.full((n,), float(i + 1)) for i, n in enumerate(sizes.values())] + [torch.full((5,), 2.0)])
    e = layout.energies(r)
    assert e["keypoints_2d"] == 0.5 * 42 * 1.0 and e["pose"] == 0.5 * 45 * 4.0 and e["shape"] == 0.5 * 10 * 16.0
    assert e["total"] == 0.5 * float(r.square().sum())  # the optional blocks after the named ones count in the total

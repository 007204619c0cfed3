"""Closest points on triangles (used for the two-hand penetration depth)."""

import torch

from handrecon.geometry.mesh import closest_points_on_triangles


def _sampled_min_distance(p: torch.Tensor, a: torch.Tensor, b: torch.Tensor, c: torch.Tensor, n: int = 60):
    s, t = torch.meshgrid(torch.linspace(0, 1, n + 1), torch.linspace(0, 1, n + 1), indexing="ij")
    keep = (s + t) <= 1
    s, t = s[keep].double(), t[keep].double()
    pts = a[:, None] + s[None, :, None] * (b - a)[:, None] + t[None, :, None] * (c - a)[:, None]
    return (pts - p[:, None]).norm(dim=-1).min(1).values


def test_matches_dense_sampling_in_every_voronoi_region():
    g = torch.Generator().manual_seed(0)
    a, b, c = (torch.randn(500, 3, generator=g, dtype=torch.float64) for _ in range(3))
    p = 2 * torch.randn(500, 3, generator=g, dtype=torch.float64)  # far and near, all regions
    q = closest_points_on_triangles(p, a, b, c)
    d = (q - p).norm(dim=-1)
    sampled = _sampled_min_distance(p, a, b, c)
    assert (d <= sampled + 1e-12).all()  # never worse than any point of the triangle
    edge = torch.stack([(b - a).norm(dim=-1), (c - a).norm(dim=-1)], -1).max(-1).values
    assert (d >= sampled - edge / 60).all()
    # The closest point lies on the triangle: barycentric coordinates in [0, 1].
    n = torch.cross(b - a, c - a, dim=-1)
    area = n.norm(dim=-1)
    u = (torch.cross(c - b, q - b, dim=-1) * n).sum(-1) / area**2
    v = (torch.cross(a - c, q - c, dim=-1) * n).sum(-1) / area**2
    w = 1 - u - v
    assert ((torch.stack([u, v, w]) > -1e-9) & (torch.stack([u, v, w]) < 1 + 1e-9)).all()


def test_gradient_points_along_the_normal_above_the_interior():
    a = torch.tensor([[0.0, 0.0, 0.0]])
    b = torch.tensor([[1.0, 0.0, 0.0]])
    c = torch.tensor([[0.0, 1.0, 0.0]])
    p = torch.tensor([[0.2, 0.3, 0.5]], requires_grad=True)
    d = (closest_points_on_triangles(p, a, b, c) - p).norm(dim=-1)
    assert torch.allclose(d, torch.tensor([0.5]))
    d.sum().backward()
    assert torch.allclose(p.grad, torch.tensor([[0.0, 0.0, 1.0]]), atol=1e-6)
    # Degenerate triangle (all corners equal): no NaN, the corner is the closest point.
    q = closest_points_on_triangles(torch.ones(1, 3), a, a, a)
    assert torch.equal(q, a)

"""KPE values at known angles (WildHands' intrinsics-aware positional encoding)."""

import math

import torch

from handrecon.nn.kpe import dense_kpe, sinusoidal_encoding, sparse_kpe, view_angles


def _K(f=100.0, px=50.0, py=50.0):
    return torch.tensor([[[f, 0.0, px], [0.0, f, py], [0.0, 0.0, 1.0]]])


def test_view_angles_at_known_pixels():
    pts = torch.tensor([[50.0, 50.0], [150.0, 50.0], [50.0, -50.0]])
    a = view_angles(pts, _K())[0]
    assert torch.allclose(a[0], torch.zeros(2))
    assert torch.allclose(a[1], torch.tensor([math.pi / 4, 0.0]))  # one focal length right: 45 degrees
    assert torch.allclose(a[2], torch.tensor([0.0, -math.pi / 4]))


def test_sinusoidal_encoding_values():
    e = sinusoidal_encoding(torch.tensor([math.pi / 4]), 4)
    want = [math.sin(math.pi / 4 * 2**k) for k in range(4)] + [math.cos(math.pi / 4 * 2**k) for k in range(4)]
    assert torch.allclose(e, torch.tensor(want), atol=1e-6)


def test_sparse_kpe_layout_and_values():
    # crop of side 100 whose principal point is its centre: the centre is at angle 0, corners at +-atan(0.5)
    e = sparse_kpe(_K(100.0, 50.0, 50.0), 100, 4)
    assert e.shape == (1, 5 * 4 * 4)
    per_point = e.reshape(5, 2, 8)  # (point, axis, [sin x4, cos x4])
    assert torch.allclose(per_point[4, :, :4], torch.zeros(2, 4), atol=1e-6)
    assert torch.allclose(per_point[4, :, 4:], torch.ones(2, 4), atol=1e-6)
    assert torch.isclose(per_point[0, 0, 0], torch.tensor(math.sin(-math.atan(0.5))))  # top-left x
    assert torch.isclose(per_point[3, 1, 0], torch.tensor(math.sin(math.atan(0.5))))  # bottom-right y
    # the same crop seen off-axis: the encoding changes (that is the point of KPE)
    assert not torch.allclose(sparse_kpe(_K(100.0, -200.0, 50.0), 100), e)


def test_dense_kpe_matches_sparse_at_the_centre():
    d = dense_kpe(_K(100.0, 50.0, 50.0), 100, None, 4)
    assert d.shape == (1, 16, 100, 100)
    centre = d[0, :, 49:51, 49:51].mean((1, 2))
    assert torch.allclose(centre[:4], torch.zeros(4), atol=0.05)
    assert dense_kpe(_K(), 100, (7, 7)).shape == (1, 16, 7, 7)

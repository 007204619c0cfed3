import numpy as np
import torch

from handrecon.data.conventions import (
    OPENGL_TO_OPENCV,
    change_camera_frame,
    opengl_to_opencv,
    pack_mano_vector,
    unpack_mano_vector,
)
from handrecon.fit.initialize import HandParams as FitHandParams
from handrecon.hand.mirror import mirror_points
from handrecon.hand.params import HandParams

from .conftest import random_params


def test_old_import_path_is_the_same_container():
    assert FitHandParams is HandParams


def test_axis_angle_matrix_round_trip_with_a_pose_mean():
    p = HandParams(**random_params(3, dtype=torch.float64))
    mean = 0.2 * torch.randn(45, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    m = p.to_matrices(mean, wrist=True)
    assert m.hand_pose.shape == (3, 15, 3, 3) and m.global_orient.shape == (3, 3, 3)
    back = m.to_axis_angle(mean)
    torch.testing.assert_close(back.hand_pose, p.hand_pose)
    torch.testing.assert_close(back.global_orient, p.global_orient)


def test_matrices_and_axis_angle_pose_the_same_mesh(right64):
    p = HandParams(**random_params(2, dtype=torch.float64))
    a = right64(**p.model_inputs())
    b = right64(**p.to_matrices(right64.pose_mean).model_inputs())
    torch.testing.assert_close(a.vertices, b.vertices)


def test_mirrored_params_on_the_left_model_give_the_mirrored_mesh(right, left):
    p = HandParams(**random_params(2))
    r = right(**p.model_inputs())
    m = left(**p.mirrored().model_inputs())
    torch.testing.assert_close(m.vertices, mirror_points(r.vertices), atol=1e-5, rtol=0)


def test_numpy_and_indexing():
    p = HandParams(**random_params(3, dtype=torch.float64))
    one = p.numpy(1)
    q = HandParams.from_numpy(one["global_orient"], one["hand_pose"], one["betas"], one["transl"])
    assert q.batch_size == 1
    torch.testing.assert_close(q.hand_pose, p[1].hand_pose)
    assert HandParams.cat([p, q]).batch_size == 4


def test_mano_vector_round_trip():
    vec = np.random.default_rng(0).normal(size=61)
    p = unpack_mano_vector(vec)
    assert p.hand_pose.shape == (1, 15, 3)
    np.testing.assert_allclose(p.global_orient[0].numpy(), vec[:3])
    np.testing.assert_allclose(p.transl[0].numpy(), vec[58:])
    np.testing.assert_allclose(pack_mano_vector(p), vec)


def test_camera_frame_change_moves_the_posed_hand(right64):
    p = HandParams(**random_params(2, dtype=torch.float64))
    root = right64(betas=p.betas).joints[:, 0]
    q = change_camera_frame(p, OPENGL_TO_OPENCV, root)
    a = right64(**p.model_inputs())
    b = right64(**q.model_inputs())
    expected = torch.as_tensor(opengl_to_opencv(a.vertices.numpy()))
    torch.testing.assert_close(b.vertices, expected)
    torch.testing.assert_close(b.joints, a.joints @ torch.as_tensor(OPENGL_TO_OPENCV).T)


def test_mirroring_a_batch_of_three_axis_angle_wrists():
    """(3, 3) axis-angle wrists are not rotation matrices."""
    from handrecon.hand.mirror import mirror_hand_params

    go = torch.randn(3, 3, generator=torch.Generator().manual_seed(0))
    m, _, _ = mirror_hand_params(go, None, None)
    torch.testing.assert_close(m, go * torch.tensor([1.0, -1.0, -1.0]))
    torch.testing.assert_close(HandParams(go, torch.zeros(3, 15, 3), torch.zeros(3, 10), torch.zeros(3, 3))
                               .mirrored().global_orient, m)  # fmt: skip


def test_reconstructed_hand_exposes_its_parameters():
    from handrecon.pipeline.results import Hand, Plausibility

    rng = np.random.default_rng(0)
    z = np.zeros
    h = Hand("left", "openhand", z((21, 3)), z((21, 2)), z((21, 2)), z(21), z((5, 3)), z((2, 3), int),
             rng.normal(size=3), rng.normal(size=(15, 3)), rng.normal(size=10), rng.normal(size=3), z((15, 3)),
             np.eye(3), Plausibility(0.0, [], 5.0, None, 6.0), bone_scales=rng.normal(size=16))  # fmt: skip
    p = h.params
    assert p.batch_size == 1 and p.hand_pose.shape == (1, 15, 3) and p.bone_scales.shape == (1, 16)
    np.testing.assert_array_equal(p.numpy(0)["hand_pose"], h.hand_pose)
    np.testing.assert_array_equal(p.numpy(0)["transl"], h.transl)

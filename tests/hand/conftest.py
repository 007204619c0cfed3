import pytest
import torch

from handrecon.hand import HandModel


@pytest.fixture(scope="session")
def right() -> HandModel:
    return HandModel(side="right")


@pytest.fixture(scope="session")
def left() -> HandModel:
    return HandModel(side="left")


@pytest.fixture(scope="session")
def right64() -> HandModel:
    return HandModel(side="right", dtype=torch.float64)


def random_params(B: int, seed: int = 0, scale: float = 0.4, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return dict(
        global_orient=torch.randn(B, 3, generator=g, dtype=dtype),
        hand_pose=scale * torch.randn(B, 15, 3, generator=g, dtype=dtype),
        betas=torch.randn(B, 10, generator=g, dtype=dtype),
        transl=0.1 * torch.randn(B, 3, generator=g, dtype=dtype),
    )

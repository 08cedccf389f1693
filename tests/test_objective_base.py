import math

import pytest
import torch

from helpers import tiny_config
from pixelsmith.errors import PixelsmithError
from pixelsmith.models import build_model
from pixelsmith.objectives import DataInfo
from pixelsmith.objectives.gan import GanObjective


@pytest.fixture
def objective():
    cfg = tiny_config()
    nets = build_model(cfg.model, img_size=16, img_channels=1)
    return GanObjective(cfg.objective, nets, DataInfo(16, 1, 0), torch.device("cpu"))


def test_slerp_hits_endpoints_and_follows_the_great_circle(objective):
    a, b = {"z": torch.tensor([[1.0, 0.0]])}, {"z": torch.tensor([[0.0, 1.0]])}
    z = objective.interpolate_inputs(a, b, torch.tensor([0.0, 0.5, 1.0]))["z"]
    assert torch.allclose(z[0], a["z"][0]) and torch.allclose(z[2], b["z"][0], atol=1e-6)
    # halfway between perpendicular unit vectors: at 45 degrees and still of norm 1
    assert math.isclose(math.atan2(z[1, 1], z[1, 0]), math.pi / 4, rel_tol=1e-5)
    assert math.isclose(z[1].norm().item(), 1.0, rel_tol=1e-5)


def test_gan_has_no_encoder(objective):
    with pytest.raises(PixelsmithError, match="has no encoder"):
        objective.encode(objective.nets["generator"], torch.zeros(1, 1, 16, 16))


def test_sample_inputs_are_fixed_by_the_generator_seed(objective):
    a = objective.sample_inputs(4, torch.Generator().manual_seed(1))
    b = objective.sample_inputs(4, torch.Generator().manual_seed(1))
    assert torch.equal(a["z"], b["z"]) and a["z"].shape == (4, 8)

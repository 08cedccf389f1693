import pytest
import torch

from pixelsmith.errors import PixelsmithError
from pixelsmith.models import build_model
from pixelsmith.models.dcgan import DCGANConfig, start_size
from pixelsmith.registry import MODELS


@pytest.mark.parametrize("img_size", [16, 28, 32, 64])
@pytest.mark.parametrize("channels", [1, 3])
def test_dcgan_shapes(img_size, channels):
    cfg = DCGANConfig(z_dim=10, g_width=4, d_width=4)
    nets = build_model(cfg, img_size=img_size, img_channels=channels)
    z = torch.randn(3, 10)
    x = nets["generator"](z)
    assert x.shape == (3, channels, img_size, img_size)
    assert x.min() >= -1 and x.max() <= 1  # tanh output
    logits = nets["discriminator"](x)
    assert logits.shape == (3,)


def test_dcgan_structure_follows_the_articles():
    nets = build_model(DCGANConfig(), img_size=28, img_channels=1)
    g, d = nets["generator"], nets["discriminator"]
    assert isinstance(g.project, torch.nn.Linear) and g.project.in_features == 100
    assert any(isinstance(m, torch.nn.ConvTranspose2d) for m in g.modules())
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in g.modules())
    assert any(isinstance(m, torch.nn.Dropout) for m in d.modules())
    assert any(isinstance(m, torch.nn.LeakyReLU) for m in d.modules())
    assert g.s0 == 7  # 28 = 7 * 2 * 2


def test_unsupported_size_is_a_clear_error():
    assert start_size(32) == (4, 3) and start_size(28) == (7, 2)
    with pytest.raises(PixelsmithError, match="img_size 30 is not supported"):
        build_model(DCGANConfig(), img_size=30, img_channels=1)


def test_registry_lists_valid_names_on_error():
    assert {"dcgan", "resnet"} <= set(MODELS.names())
    with pytest.raises(PixelsmithError, match="unknown model 'stylegan'; choose one of: .*dcgan"):
        MODELS.get("stylegan")

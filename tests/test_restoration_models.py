"""The restoration networks: shapes on any size, SR output sizes, DnCNN's structure and
residual output, the U-Net's noise-level input, parameter counts of the defaults."""

import pytest
import torch
from torch import nn

from pixelsmith.errors import PixelsmithError
from pixelsmith.models import build_model
from pixelsmith.models.dncnn import DnCNNConfig
from pixelsmith.models.srnet import SRNetConfig
from pixelsmith.models.unet_restorer import UNetRestorerConfig
from pixelsmith.registry import MODELS

SMALL = {
    "dncnn": DnCNNConfig(depth=5, width=8),
    "unet-restorer": UNetRestorerConfig(width=4, max_width=16, levels=3, blocks=1),
    "srnet": SRNetConfig(width=8, blocks=2),
}


def _net(cfg, channels):
    return build_model(cfg, img_size=40, img_channels=channels)["restorer"].eval()


def _count(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def test_registered_as_restoration_models():
    assert {"dncnn", "unet-restorer", "srnet"} <= set(MODELS.names())
    for name, cfg in SMALL.items():
        assert MODELS.entry(name).config is type(cfg)
        assert type(cfg).default_objective == "restoration"
        assert set(build_model(cfg, img_size=40, img_channels=1)) == {"restorer"}


@pytest.mark.parametrize("name", ["dncnn", "unet-restorer"])
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("size", [(32, 32), (37, 53), (5, 3), (2, 2)])
def test_denoisers_keep_any_size(name, channels, size):
    net = _net(SMALL[name], channels)
    y = torch.rand(2, channels, *size) * 2 - 1
    with torch.no_grad():
        out = net(y, sigma=torch.tensor([25.0, 50.0]))
    assert out.shape == y.shape and torch.isfinite(out).all()


@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("channels", [1, 3])
def test_srnet_output_size(scale, channels):
    cfg = SRNetConfig(width=8, blocks=2, scale=scale)
    net = _net(cfg, channels)
    with torch.no_grad():
        out = net(torch.rand(2, channels, 37, 53) * 2 - 1)
    assert out.shape == (2, channels, 37 * scale, 53 * scale)
    shuffles = [m.upscale_factor for m in net.modules() if isinstance(m, nn.PixelShuffle)]
    assert shuffles == {2: [2], 3: [3], 4: [2, 2]}[scale]


def test_srnet_global_skip_is_bicubic():
    net = _net(SRNetConfig(width=8, blocks=2, scale=3), 1)
    nn.init.zeros_(net.tail.weight)  # the learnt part predicts nothing ...
    nn.init.zeros_(net.tail.bias)
    y = torch.rand(1, 1, 10, 12) * 2 - 1
    with torch.no_grad():  # ... so the output is plain bicubic upsampling
        expected = torch.nn.functional.interpolate(y, scale_factor=3, mode="bicubic")
        assert torch.allclose(net(y), expected, atol=1e-6)


def test_dncnn_has_17_convs_with_batchnorm_and_predicts_the_residual():
    net = _net(DnCNNConfig(), 1)
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 17 and all(c.kernel_size == (3, 3) for c in convs)
    assert [c.out_channels for c in convs] == [64] * 16 + [1]
    assert sum(isinstance(m, nn.BatchNorm2d) for m in net.modules()) == 15
    y = torch.rand(2, 1, 20, 24) * 2 - 1
    with torch.no_grad():
        assert torch.allclose(net(y), y - net.body(y), atol=1e-6)  # output = y - noise(y)
    # the body really is the whole network: a zero last conv makes the output y itself
    nn.init.zeros_(convs[-1].weight)
    with torch.no_grad():
        assert torch.equal(net(y), y)


def test_default_parameter_counts():
    assert _count(_net(DnCNNConfig(), 1)) == 556_096  # DnCNN-S, about 0.56 M
    assert _count(_net(DnCNNConfig(), 3)) == 558_400
    assert _count(_net(UNetRestorerConfig(), 1)) == 4_337_666
    assert _count(_net(UNetRestorerConfig(noise_level_input=True), 1)) == 4_337_954
    assert _count(_net(SRNetConfig(scale=2), 1)) == 1_367_553
    assert _count(_net(SRNetConfig(scale=4), 3)) == 1_517_571


def test_unet_attention_sits_at_the_lowest_resolution():
    from pixelsmith.nn.layers import SelfAttention

    net = _net(UNetRestorerConfig(width=4, max_width=16, levels=3, blocks=1), 1)
    seen = []
    for m in net.modules():
        if isinstance(m, SelfAttention):
            m.register_forward_hook(lambda mod, inp, out: seen.append(tuple(inp[0].shape)))
    with torch.no_grad():
        net(torch.zeros(1, 1, 37, 53))
    assert seen == [(1, 16, 10, 14)]  # padded to 40 x 56, halved twice
    no_attn = _net(UNetRestorerConfig(width=4, max_width=16, levels=3, blocks=1,
                                      attention=False), 1)
    assert not any(isinstance(m, SelfAttention) for m in no_attn.modules())


def test_unet_noise_level_input():
    cfg = UNetRestorerConfig(width=4, max_width=16, levels=3, blocks=1, noise_level_input=True)
    net = _net(cfg, 3)
    assert net.head.in_channels == 4  # RGB + the sigma map
    y = torch.rand(2, 3, 17, 19) * 2 - 1
    with torch.no_grad():
        a = net(y, sigma=torch.tensor([15.0, 15.0]))
        b = net(y, sigma=torch.tensor([50.0, 50.0]))
        c = net(y, sigma=torch.tensor([15.0, 50.0]))  # per-image levels
    assert a.shape == y.shape and not torch.allclose(a, b)  # the level changes the output
    assert torch.allclose(c[0], a[0], atol=1e-6) and torch.allclose(c[1], b[1], atol=1e-6)
    with pytest.raises(PixelsmithError, match="noise_level_input.*pass sigma"):
        net(y)
    blind = _net(SMALL["unet-restorer"], 3)
    assert blind.head.in_channels == 3
    with torch.no_grad():  # a blind net ignores sigma
        assert torch.equal(blind(y), blind(y, sigma=torch.tensor([5.0, 5.0])))


def test_one_gradient_step_lowers_the_loss():
    torch.manual_seed(0)
    for cfg in SMALL.values():
        net = build_model(cfg, img_size=16, img_channels=1)["restorer"].train()
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        x = torch.rand(4, 1, 16, 16) * 2 - 1
        scale = getattr(cfg, "scale", 1)
        y = x[:, :, ::scale, ::scale] if scale > 1 else x + 0.2 * torch.randn_like(x)
        losses = []
        for _ in range(5):
            loss = (net(y) - x).pow(2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        assert losses[-1] < losses[0], cfg.name

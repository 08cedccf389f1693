"""The convolutional-recurrent restorer (convlstm-restorer): the ConvLSTM cell's gates and
state, the state carried across stages, gradients reaching the first stage, any size in,
the same size out, and the noise-level input. (Training, reloading and seeded determinism
are checked for every model by tests/test_every_model.py.)"""

import pytest
import torch

from pixelsmith.errors import PixelsmithError
from pixelsmith.models.convlstm_restorer import ConvLSTMCell, ConvLSTMRestorer


def test_cell_gate_and_state_shapes():
    cell = ConvLSTMCell(5, 8)
    x = torch.randn(2, 5, 9, 11)
    h0, c0 = cell.zero_state(x)
    assert h0.shape == c0.shape == (2, 8, 9, 11) and not h0.any()
    assert cell.gates.out_channels == 4 * 8  # input, forget, output gates and candidate
    h, c = cell(x, (h0, c0))
    assert h.shape == c.shape == (2, 8, 9, 11)
    assert h.abs().max() < 1  # h = o * tanh(c)
    # the forget gate starts open (bias 1): the cell state is mostly kept
    assert torch.equal(cell.gates.bias[8:16], torch.ones(8))


def test_cell_carries_its_state_and_gradient_through_time():
    torch.manual_seed(0)
    cell = ConvLSTMCell(3, 4)
    xs = [torch.randn(1, 3, 6, 6, requires_grad=True) for _ in range(5)]
    state = cell.zero_state(xs[0])
    for x in xs:
        state = cell(x, state)
    state[0].sum().backward()
    assert xs[0].grad.abs().sum() > 0  # the first step's input reaches the last output
    # the same last input after a different history gives a different output
    other = cell.zero_state(xs[0])
    for x in [torch.zeros_like(xs[0])] * 4 + [xs[-1]]:
        other = cell(x, other)
    assert not torch.allclose(other[0], state[0])


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("hw", [(16, 16), (17, 23), (5, 3)])
def test_any_size_in_same_size_out(channels, hw):
    net = ConvLSTMRestorer(img_channels=channels, width=8, stages=2)
    y = torch.rand(2, channels, *hw) * 2 - 1
    assert net(y).shape == y.shape


def test_stages_share_weights_and_state_matters():
    torch.manual_seed(0)
    net = ConvLSTMRestorer(img_channels=1, width=8, stages=3, blocks=1)
    size = sum(p.numel() for p in net.parameters())
    y = torch.rand(1, 1, 20, 20) * 2 - 1
    with torch.no_grad():
        outs = {}
        for t in (1, 2, 3, 5):
            net.stages = t
            outs[t] = net(y)
    assert sum(p.numel() for p in net.parameters()) == size  # stages add no weights
    assert all(not torch.equal(outs[a], outs[b]) for a, b in [(1, 2), (2, 3), (3, 5)])


def test_gradient_reaches_the_first_stage():
    torch.manual_seed(0)
    net = ConvLSTMRestorer(img_channels=1, width=8, stages=4)
    y = torch.rand(2, 1, 16, 16) * 2 - 1
    first = {}

    def keep(module, inputs, output):  # the first call of the stage block is stage 1
        if "x" not in first:
            output.retain_grad()
            first["x"] = output

    handle = net.block.register_forward_hook(keep)
    net(y).square().mean().backward()
    handle.remove()
    assert first["x"].grad is not None and first["x"].grad.abs().sum() > 0
    assert net.head.weight.grad.abs().sum() > 0


def test_noise_level_input():
    torch.manual_seed(0)
    net = ConvLSTMRestorer(img_channels=1, width=8, noise_level_input=True)
    assert net.noise_level_input
    y = torch.rand(2, 1, 12, 14) * 2 - 1
    with torch.no_grad():
        a, b = net(y, torch.tensor([10.0, 10.0])), net(y, torch.tensor(50.0))
        assert not torch.equal(a, b)  # the level is read
        assert torch.equal(net(y, torch.tensor([10.0, 50.0]))[1], b[1])  # per image
    with pytest.raises(PixelsmithError, match="pass sigma"):
        net(y)
    blind = ConvLSTMRestorer(img_channels=1, width=8)
    assert not blind.noise_level_input
    with torch.no_grad():
        assert torch.equal(blind(y), blind(y, torch.tensor(25.0)))  # sigma ignored


def test_bad_sizes_are_one_line_errors():
    with pytest.raises(PixelsmithError, match="model.stages"):
        ConvLSTMRestorer(img_channels=1, stages=0)

"""Every shipped GAN config builds and trains one step at tiny sizes."""

from pathlib import Path

import pytest
import torch

from pixelsmith.config import load_config, read_yaml
from pixelsmith.training import Trainer

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs" / "gan").glob("*.yaml"))


def test_every_model_has_configs_for_the_three_data_sets():
    names = {p.stem for p in CONFIGS}
    models = {n.rsplit("-", 1)[0].removesuffix("-fashion") for n in names}
    for model in models:
        for data in ("mnist", "fashion-mnist", "cifar10"):
            assert f"{model}-{data}" in names, f"missing configs/gan/{model}-{data}.yaml"


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_config_trains_one_step_at_tiny_size(path, tmp_path):
    model = read_yaml(path)["model"]["name"]
    channels = read_yaml(path)["data"]["img_channels"]
    tiny = ["data.name=digits", "data.root=null", "data.img_size=16", "data.max_images=16",
            "model.z_dim=4", "model.g_width=4", "model.d_width=4", "train.batch_size=4",
            "train.progress=false", "train.ema_start=0", "objective.n_critic=1"]
    if model == "resnet":
        tiny.append("model.embed_dim=4")
    cfg = load_config(path, tiny)
    assert cfg.data.img_channels == channels  # the file's own settings survive
    trainer = Trainer(cfg, tmp_path / "run")
    # the output layer's weight: to_img.weight; spectral norm keeps it as ...original; a
    # growing generator has one per level, and the first level is the one trained first
    key = next(k for k in trainer.nets["generator"].state_dict()
               if k.startswith("to_img.") and k.endswith(("weight", "original")))
    before = trainer.nets["generator"].state_dict()[key].clone()
    trainer._train_step()  # one step of every phase, without writing a run folder
    losses = {k: v.item() for k, v in trainer._sums.items()}
    assert {"d/loss", "g/loss"} <= set(losses)
    assert all(torch.isfinite(torch.tensor(v)) for v in losses.values()), losses
    assert not torch.equal(before, trainer.nets["generator"].state_dict()[key])

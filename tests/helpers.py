"""Tiny configs shared by the tests: a DCGAN of width 4-8 on 64 embedded digits at 16 px."""

from pixelsmith.config import load_config

TINY = [
    "data.name=digits", "data.img_size=16", "data.max_images=64",
    "model.z_dim=8", "model.g_width=8", "model.d_width=8",
    "train.batch_size=16", "train.log_every=1", "train.sample_every=2",
    "train.checkpoint_every=2", "train.num_samples=16", "train.progress=false",
]


def tiny_config(*overrides: str):
    return load_config(None, [*TINY, *overrides])

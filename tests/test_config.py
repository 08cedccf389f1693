import pytest

from pixelsmith.config import config_from_dict, config_to_dict, load_config
from pixelsmith.errors import PixelsmithError
from pixelsmith.models.dcgan import DCGANConfig
from pixelsmith.objectives.gan import GanObjectiveConfig


def write(tmp_path, text):
    path = tmp_path / "exp.yaml"
    path.write_text(text)
    return path


def test_defaults_and_required_keys_exist():
    cfg = load_config(None)
    assert isinstance(cfg.model, DCGANConfig) and cfg.model.name == "dcgan"
    assert isinstance(cfg.objective, GanObjectiveConfig)  # the model's family picks it
    for key in ("name", "root", "download"):
        assert hasattr(cfg.data, key)
    for key in ("steps", "batch_size", "seed"):
        assert hasattr(cfg.train, key)


def test_yaml_and_overrides_are_typed(tmp_path):
    path = write(tmp_path, "train:\n  steps: 7\nmodel:\n  z_dim: 12\n")
    cfg = load_config(path, ["train.batch_size=3", "objective.betas=[0.0, 0.9]",
                             "data.root=/some/where", "objective.lr_d=1e-3"])
    assert cfg.train.steps == 7 and cfg.train.batch_size == 3
    assert cfg.model.z_dim == 12
    assert cfg.objective.betas == (0.0, 0.9)
    assert cfg.objective.lr_d == pytest.approx(1e-3) and isinstance(cfg.objective.lr_d, float)
    assert cfg.data.root == "/some/where"


@pytest.mark.parametrize("text, overrides, message", [
    ("train:\n  stepz: 3\n", [], "unknown key 'train.stepz'"),
    ("", ["model.width=3"], "unknown key 'model.width'"),
    ("trian:\n  steps: 3\n", [], "unknown key 'trian'"),
    ("train:\n  steps: many\n", [], "'train.steps' must be int, got 'many'"),
    ("train:\n  steps: 2.5\n", [], "'train.steps' must be int"),
    ("", ["data.download=yes please"], "'data.download' must be bool"),
    ("", ["objective.betas=[0.5]"], "'objective.betas' must have 2 items"),
    ("", ["train.precision=fp8"], "'train.precision' must be one of auto, bf16, fp32"),
    ("", ["model.name=nope"], "unknown model 'nope'; choose one of: "),
    ("", ["objective.loss=3"], "'objective.loss' must be str"),
    ("train: [1, 2]\n", [], "'train' must be a mapping"),
    ("", ["trainsteps"], "--set expects KEY=VALUE"),
])
def test_bad_configs_give_one_line_errors_naming_the_key(tmp_path, text, overrides, message):
    path = write(tmp_path, text)
    with pytest.raises(PixelsmithError) as err:
        load_config(path, overrides)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_invalid_yaml_and_missing_file(tmp_path):
    with pytest.raises(PixelsmithError, match="exp.yaml: line 2 is not valid YAML"):
        load_config(write(tmp_path, "train:\n  steps: 3: 4\n"))
    with pytest.raises(PixelsmithError, match="config file not found: .*nothere.yaml"):
        load_config(tmp_path / "nothere.yaml")


def test_resolved_config_round_trips():
    cfg = load_config(None, ["train.steps=5", "model.g_width=8"])
    again = config_from_dict(config_to_dict(cfg))
    assert again == cfg


def test_shipped_configs_load():
    from pathlib import Path

    files = sorted((Path(__file__).parents[1] / "configs").rglob("*.yaml"))
    assert len(files) >= 4
    for path in files:
        load_config(path)

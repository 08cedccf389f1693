from pixelsmith.config.loader import (
    apply_overrides,
    config_from_dict,
    config_to_dict,
    from_dict,
    load_config,
    read_yaml,
    save_config,
)
from pixelsmith.config.schema import Config, DataConfig, TrainConfig, choice

__all__ = [
    "Config",
    "DataConfig",
    "TrainConfig",
    "apply_overrides",
    "choice",
    "config_from_dict",
    "config_to_dict",
    "from_dict",
    "load_config",
    "read_yaml",
    "save_config",
]

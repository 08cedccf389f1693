"""Typed configs: the schema (``schema.py``, a leaf every component imports), the strict YAML
loader (``loader.py``) and name resolution (``resolve.py``, which imports the components).

``load_config``, ``config_from_dict`` and ``upgrade_config`` are loaded from ``resolve.py`` on
first use, so that a model or objective importing ``pixelsmith.config.schema`` does not pull
every other component in while it is itself being imported.
"""

from pixelsmith.config.loader import (
    apply_overrides,
    config_to_dict,
    from_dict,
    read_yaml,
    save_config,
)
from pixelsmith.config.schema import Config, DataConfig, TrainConfig, choice

_RESOLVE = ("config_from_dict", "load_config", "upgrade_config")

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
    "upgrade_config",
]


def __getattr__(name: str):
    if name in _RESOLVE:
        from pixelsmith.config import resolve

        return getattr(resolve, name)
    raise AttributeError(f"module 'pixelsmith.config' has no attribute '{name}'")

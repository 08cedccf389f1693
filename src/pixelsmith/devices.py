"""Which torch device a command runs on: one rule for training, sampling, restoring and
the metrics (``auto`` = CUDA when present, else the CPU)."""

from __future__ import annotations

import torch

from pixelsmith.errors import PixelsmithError

# the arithmetic a network may run in, wherever a command or config offers the choice:
# auto = bf16 where the device runs it natively (bf16_is_fast), else fp32
PRECISIONS = ("fp32", "bf16", "auto")


def resolve_device(name: str, what: str = "--device") -> torch.device:
    """``auto``, ``cpu``, ``cuda`` or ``cuda:N`` -> a device; CUDA asked for but absent is a
    one-line error instead of a failure at the first tensor."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise PixelsmithError(f"{what} '{name}' is not a device; use auto, cpu, cuda or cuda:N"
                              ) from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise PixelsmithError(f"{what} is '{name}' but no CUDA device is available")
    return device


def describe_device(device: torch.device | str = "cpu") -> str:
    """A device in words for the tables and manifests: the GPU's name, or the CPU's model,
    core count and torch threads (figures from different CPUs differ several-fold)."""
    import os
    import platform

    device = torch.device(device)
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (CUDA {torch.version.cuda})"
    model = platform.processor() or platform.machine()
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8", errors="replace"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"CPU {model}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads"


def bf16_is_fast(device: torch.device) -> bool:
    """Whether bf16 autocast speeds work up here (training, restoring): CUDA with bf16, or
    a CPU whose oneDNN has native bf16 (AVX512-BF16 / AMX); elsewhere it is emulated."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        try:
            return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        except (AttributeError, RuntimeError):
            return False
    return False


def check_precision(value: str, what: str = "--precision") -> str:
    """``value`` if it is one of PRECISIONS, else a one-line error naming ``what``."""
    if value not in PRECISIONS:
        raise PixelsmithError(f"{what} must be fp32, bf16 or auto, got {value!r}")
    return value


def uses_bf16(precision: str, device: torch.device) -> bool:
    """Whether ``precision`` (one of PRECISIONS) means bf16 on ``device``."""
    return bf16_is_fast(device) if check_precision(precision) == "auto" else precision == "bf16"

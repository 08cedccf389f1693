"""Options that several commands share, declared once: the help texts, and the typed
parameters built from them (``sampler: opt.Sampler = None``). No heavy imports, so that
``pixelsmith --help`` stays fast."""

from typing import Annotated

import typer

PRECISION_HELP = ("diffusion models: the denoiser in fp32 (default), bf16 (measured 2x faster "
                  "on a CPU with AVX512-BF16; FID unchanged) or auto (bf16 where the CPU or "
                  "GPU runs it natively)")
SAMPLER_HELP = "diffusion models: ddim, ddpm, euler, heun, dpm-solver-2m"
STEPS_HELP = "diffusion models: sampling steps"
GUIDANCE_HELP = ("conditional diffusion models: classifier-free guidance weight W "
                 "(0 unconditional, 1 conditional, >1 guided)")
ETA_HELP = "diffusion models, ddim: noise (0..1)"
TRUNCATION_HELP = ("GANs: z from N(0, 1) cut to [-t, t], the truncation trick (smaller: "
                   "cleaner, less varied images)")
NO_EMA_HELP = "use the raw weights, not the EMA copy"
PACKAGED_HELP = "a packaged generator by name instead of a run"

DEVICE_HELP = "auto (CUDA when present, else the CPU), cpu, cuda or cuda:N"

# typer reads the option's flag and help from the annotation; the default stays at the
# parameter (None: the run's own setting)
Sampler = Annotated[str | None, typer.Option("--sampler", help=SAMPLER_HELP)]
Steps = Annotated[int | None, typer.Option("--steps", help=STEPS_HELP)]
Guidance = Annotated[float | None, typer.Option("--guidance", help=GUIDANCE_HELP)]
Eta = Annotated[float | None, typer.Option("--eta", help=ETA_HELP)]
Precision = Annotated[str | None, typer.Option("--precision", help=PRECISION_HELP)]
Truncation = Annotated[float | None, typer.Option("--truncation", help=TRUNCATION_HELP)]
NoEma = Annotated[bool, typer.Option("--no-ema", help=NO_EMA_HELP)]
Device = Annotated[str, typer.Option("--device", help=DEVICE_HELP)]
Packaged = Annotated[str | None, typer.Option("--model", help=PACKAGED_HELP)]

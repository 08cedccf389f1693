"""Help texts of options that several commands share; no heavy imports, so that
``pixelsmith --help`` stays fast."""

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

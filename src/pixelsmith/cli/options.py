"""Help texts of options that several commands share; no heavy imports, so that
``pixelsmith --help`` stays fast."""

PRECISION_HELP = ("diffusion models: the denoiser in fp32 (default), bf16 (measured 2x faster "
                  "on a CPU with AVX512-BF16; FID unchanged) or auto (bf16 where the CPU or "
                  "GPU runs it natively)")

"""Fresh noise for samplers that draw it as they go (DDPM's ancestral steps, stochastic
samplers, truncation by resampling), reproducible per image.

Every image (row) gets its own CPU generator, seeded from a seed drawn for that row when
the inputs were drawn. So row i's noise depends only on the seed of the command and i:
not on the batch it is sampled in, nor on how many images come before it in the batch.
``sample``, ``export``, ``sample --out folder/`` and the metrics chunk their work
differently and still give the same images for the same ``--seed``.
"""

from __future__ import annotations

import torch

SEED_HIGH = 2**62  # seeds are drawn in [0, 2**62): any value a Generator accepts


class SampleNoise:
    def __init__(self, seeds: torch.Tensor):
        self.seeds = torch.as_tensor(seeds, dtype=torch.long).flatten().cpu()  # (N,)
        self._gens: dict[str, list[torch.Generator]] = {}  # per device, made on first use

    @classmethod
    def draw(cls, num: int, generator: torch.Generator) -> SampleNoise:
        """One seed per row from ``generator`` (drawn after the sampler's own inputs)."""
        return cls(torch.randint(SEED_HIGH, (num,), generator=generator))

    @classmethod
    def fixed(cls, num: int, seed: int = 0) -> SampleNoise:
        return cls.draw(num, torch.Generator().manual_seed(seed))

    def __len__(self) -> int:
        return len(self.seeds)

    def __getitem__(self, rows) -> SampleNoise:
        """The noise of some rows (a slice, an index tensor): their streams start afresh
        (``noise[:]`` is the same rows from the start again)."""
        return SampleNoise(self.seeds[rows])

    def repeat_rows(self, times: int) -> SampleNoise:
        """Each row ``times`` times in a row (an interpolation's frames share their noise)."""
        return SampleNoise(self.seeds.repeat_interleave(times))

    def _generators(self, device: torch.device) -> list[torch.Generator]:
        """Row generators on ``device`` (drawn there: no copy from the host). A CUDA stream
        is not a CPU stream: the same seed gives other numbers on another device type."""
        key = str(device)
        if key not in self._gens:
            self._gens[key] = [torch.Generator(device).manual_seed(int(s)) for s in self.seeds]
        return self._gens[key]

    def randn(self, *shape: int, device: torch.device | str = "cpu",
              dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """(N, *shape) standard normal noise, row i from row i's stream."""
        device = torch.device(device)
        return torch.stack([torch.randn(shape, generator=g, dtype=dtype, device=device)
                            for g in self._generators(device)])

    def rand(self, *shape: int, device: torch.device | str = "cpu",
             dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """(N, *shape) uniform noise in [0, 1), row i from row i's stream."""
        device = torch.device(device)
        return torch.stack([torch.rand(shape, generator=g, dtype=dtype, device=device)
                            for g in self._generators(device)])

"""Restoration benchmark: PSNR / SSIM tables the papers' way, beside the published numbers.
The protocol lives in the library (``pixelsmith.restore.benchmark``); this is its command:

    python bench/restoration.py [--data-root DIR] [--sets Set12,BSD68,CBSD68,Kodak24,Set5]
        [--sigmas 15,25,50] [--scales 2,3,4] [--baselines gaussian-filter,bicubic,bm3d]
        [--checkpoint RUN ...] [--tile 0] [--overlap 80] [--max-images N] [--out table.md]

The data root defaults to $PIXELSMITH_DATA (see docs/data.md). `--help` lists every option.
"""

from pixelsmith.errors import run_script
from pixelsmith.restore.benchmark import main

if __name__ == "__main__":
    run_script(main)  # a PixelsmithError: one line, exit 2, like the CLI

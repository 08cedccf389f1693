"""Training data for restorers: random patches cut on the device from whole images.

Restoration nets are fully convolutional, so they train on small crops (DnCNN: 40x40) of
larger pictures. The images live whole on the device as one uint8 tensor; every batch is
one gather: for each of B patches an image index, a top-left corner and one of the 8
symmetries of the square (identity, rotations by 90/180/270, and their mirror images),
all drawn at once from a CPU generator whose state the checkpoint keeps.

Also here: reading a folder at the images' own size (``data.img_size: 0``) and choosing
files by a list (``data.file_list``), which the image-folder loader calls.
"""

from __future__ import annotations

from pathlib import Path

import torch

from pixelsmith.data.base import Batch, ImageData
from pixelsmith.data.batches import DeviceBatches
from pixelsmith.data.image_files import read_image
from pixelsmith.errors import PixelsmithError


class DevicePatches(DeviceBatches):
    """Batches of random ``patch_size`` crops with random flips/rotations.

    Images are visited in shuffled epochs (each image once per epoch, one patch per visit),
    so every picture contributes equally; same interface as ``DeviceBatches``, including
    ``shard=(rank, world)``: every rank draws the global batch's crops and keeps its slice.
    """

    def __init__(self, data: ImageData, batch_size: int, patch_size: int, seed: int,
                 device: torch.device, channels_last: bool = False,
                 shard: tuple[int, int] = (0, 1)):
        h, w = data.images.shape[-2:]
        if patch_size < 1 or patch_size > min(h, w):
            raise PixelsmithError(f"data.patch_size must be in 1..{min(h, w)} (the images are "
                                  f"{h}x{w}), got {patch_size}")
        super().__init__(data, batch_size, seed, device, channels_last, shard)
        self.patch_size = patch_size
        p = torch.arange(patch_size, device=device)
        self._i, self._j = torch.meshgrid(p, p, indexing="ij")  # (P, P) row / column in a patch

    def next(self) -> Batch:
        b, p = self.batch_size, self.patch_size
        idx = self.next_indices()
        h, w = self.images.shape[-2:]
        top = torch.randint(h - p + 1, (b,), generator=self.gen)
        left = torch.randint(w - p + 1, (b,), generator=self.gen)
        sym = torch.randint(8, (b,), generator=self.gen)  # see gather_patches
        idx, top, left, sym = (self.mine(t) for t in (idx, top, left, sym))
        return self.batch(gather_patches(self.images, idx, top, left, sym, self._i, self._j),
                          idx)


def gather_patches(images: torch.Tensor, idx: torch.Tensor, top: torch.Tensor,
                   left: torch.Tensor, sym: torch.Tensor, i: torch.Tensor, j: torch.Tensor
                   ) -> torch.Tensor:
    """(N, C, H, W) -> (B, C, P, P): patch b is images[idx[b]] cropped at (top, left) and
    transformed by symmetry sym[b] in 0..7. The symmetry is applied to the index grid
    (mirror rows and/or columns, then transpose: the 8 elements of the square's group), so
    the whole batch is one advanced-indexing gather, without a loop over images."""
    p = i.shape[0]
    tr = (sym & 1).bool().view(-1, 1, 1)
    a = torch.where(tr, j, i)  # (B, P, P) row inside the crop
    c = torch.where(tr, i, j)  # (B, P, P) column inside the crop
    a = torch.where((sym & 2).bool().view(-1, 1, 1), p - 1 - a, a)
    c = torch.where((sym & 4).bool().view(-1, 1, 1), p - 1 - c, c)
    rows = top.view(-1, 1, 1) + a
    cols = left.view(-1, 1, 1) + c
    # advanced indices on dims 0, 2, 3 around the channel slice -> (B, P, P, C)
    out = images[idx.view(-1, 1, 1), :, rows, cols]
    return out.permute(0, 3, 1, 2)


def centre_crop(images: torch.Tensor, size: int, multiple: int = 1) -> torch.Tensor:
    """Centre square of side min(size, H, W), rounded down to ``multiple``: (N, C, s, s)."""
    h, w = images.shape[-2:]
    s = min(size, h, w)
    s -= s % multiple
    top, left = (h - s) // 2, (w - s) // 2
    return images[..., top : top + s, left : left + s]


# ------------------------------------------------------------------ native-size folders
def select_listed(root: Path, paths: list[Path], file_list: str) -> list[Path]:
    """Keep the files named in ``file_list`` (one relative path or stem a line, ``#``
    comments allowed; relative to data.root when not absolute), in the list's order."""
    list_path = Path(file_list).expanduser()
    if not list_path.is_absolute():
        list_path = root / list_path
    if not list_path.is_file():
        raise PixelsmithError(f"data.file_list {list_path} does not exist")
    wanted = [ln.split("#")[0].strip() for ln in list_path.read_text().splitlines()]
    wanted = [w for w in wanted if w]
    by_rel = {p.relative_to(root).as_posix(): p for p in paths}
    by_stem: dict[str, list[Path]] = {}
    for p in paths:
        by_stem.setdefault(p.stem, []).append(p)
    out, missing = [], []
    for name in wanted:
        if name in by_rel:
            out.append(by_rel[name])
        elif len(by_stem.get(name, [])) == 1:
            out.append(by_stem[name][0])
        else:
            missing.append(name)
    if missing:
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        raise PixelsmithError(f"data.file_list {list_path}: {len(missing)} entries match no "
                              f"single image under {root}: {', '.join(missing[:3])}{more}")
    if not out:
        raise PixelsmithError(f"data.file_list {list_path} names no files")
    return out


def decode_native(path: Path, img_channels: int) -> torch.Tensor | str:
    """One file at its own size as uint8 (C, H, W) with H <= W (portraits turned to
    landscape), or the reason it cannot be read. Any mode, 16-bit and alpha as the
    fixed-size loader handles them (``transforms.to_8bit``)."""
    try:
        x = read_image(path, img_channels).pixels
    except PixelsmithError as e:  # undecodable or gone: the caller skips it with a warning
        return getattr(e, "reason", str(e))
    return x.transpose(1, 2).contiguous() if x.shape[1] > x.shape[2] else x


def decode_native_files(paths: list[Path], img_channels: int, limit: int | None = None
                        ) -> tuple[torch.Tensor, list[int], list[tuple[Path, str]]]:
    """Files at native size, centre-cropped to the smallest common H x W so they stack.

    The rule: every image is turned landscape (BSDS stores 321x481 and 481x321 of the same
    kind of photo), then all are cut to (min H, min W) around their centres. Nothing is
    resampled, so noise statistics and pixel sharpness stay those of the files; a folder
    of one size (Train400: 180x180) is read unchanged.
    """
    kept, failed, tensors = [], [], []
    for i, p in enumerate(paths):
        if limit is not None and len(kept) >= limit:
            break
        x = decode_native(p, img_channels)
        if isinstance(x, str):
            failed.append((p, x))
        else:
            tensors.append(x)
            kept.append(i)
    if not tensors:
        return torch.empty((0, img_channels, 1, 1), dtype=torch.uint8), kept, failed
    h = min(t.shape[1] for t in tensors)
    w = min(t.shape[2] for t in tensors)
    out = []
    for t in tensors:
        top, left = (t.shape[1] - h) // 2, (t.shape[2] - w) // 2
        out.append(t[:, top : top + h, left : left + w])
    return torch.stack(out), kept, failed

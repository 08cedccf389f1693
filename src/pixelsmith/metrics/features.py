"""Feature extractors behind one interface: uint8 images in, (features, class probabilities) out.

Two kinds:
- ``InceptionFeatures``: Inception-v3 with the standard FID weights (pytorch-fid's
  ``pt_inception-2015-12-05-6726825d.pth``), read from a local file only;
- ``EvaluatorFeatures`` (metrics/evaluator.py): the per-data-set classifier pixelsmith
  trains itself, for offline use.

``name`` goes into metric names (``fid10k@fashion-mnist-evaluator``) and ``fingerprint``
(a hash of the weights) into the key of the real-data feature cache.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from pixelsmith.data.transforms import from_uint8
from pixelsmith.errors import PixelsmithError
from pixelsmith.hashing import sha256_file

INCEPTION_FILE = "pt_inception-2015-12-05-6726825d.pth"
# The whole digest of pytorch-fid's release file (95,628,359 bytes); torch hub's own check
# only compares the 8-digit prefix the file name carries.
INCEPTION_SHA256 = "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2"
INCEPTION_URL = ("https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
                 + INCEPTION_FILE)
INCEPTION_ENV = "PIXELSMITH_INCEPTION"


class FeatureExtractor:
    """Subclasses set ``name``, ``fingerprint``, ``num_classes`` and implement ``forward``."""

    name: str = ""
    fingerprint: str = ""
    num_classes: int = 0

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """x: float (B, C, H, W) in [-1, 1] on the device -> (features (B, D), probs or None)."""
        raise NotImplementedError

    @torch.no_grad()
    def __call__(self, images: torch.Tensor, *, device: torch.device | str = "cpu",
                 batch_size: int = 256) -> tuple[torch.Tensor, torch.Tensor | None]:
        """uint8 (N, C, H, W) images -> float features (N, D) and probs (N, K) on the CPU."""
        if images.dtype != torch.uint8:
            raise TypeError("feature extractors take uint8 images (quantise first)")
        feats, probs = [], []
        for i in range(0, images.shape[0], batch_size):
            x = from_uint8(images[i : i + batch_size].to(device))
            f, p = self.forward(x)
            feats.append(f.float().cpu())
            if p is not None:
                probs.append(p.float().cpu())
        return torch.cat(feats), (torch.cat(probs) if probs else None)


def inception_candidates(path: str | Path | None = None) -> list[Path]:
    """Where the Inception weights are looked for, in order: the given path, the
    ``PIXELSMITH_INCEPTION`` variable, the torch hub cache."""
    out = []
    if path is not None:
        out.append(Path(path).expanduser())
    if os.environ.get(INCEPTION_ENV):
        out.append(Path(os.environ[INCEPTION_ENV]).expanduser())
    out.append(Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_FILE)
    return out


def find_inception_weights(path: str | Path | None = None, *, check_hash: bool = True) -> Path:
    """The verified weights file, or one clear error saying which file and where to put it."""
    candidates = inception_candidates(path)
    found = next((p for p in candidates if p.is_file()), None)
    if found is None:
        raise PixelsmithError(
            f"Inception FID weights not found: need {INCEPTION_FILE} (download it from "
            f"{INCEPTION_URL} on a machine with internet) and put it at {candidates[-1]} "
            f"or point --inception / ${INCEPTION_ENV} at it; looked in: "
            f"{', '.join(map(str, candidates))}. Offline alternative: --features evaluator")
    if check_hash:
        digest = sha256_file(found)
        if digest != INCEPTION_SHA256:
            raise PixelsmithError(
                f"{found}: SHA-256 {digest[:16]}... does not match {INCEPTION_FILE} "
                f"(expected {INCEPTION_SHA256[:16]}...); the file is corrupt or not the "
                f"pytorch-fid weights")
    return found


class InceptionFeatures(FeatureExtractor):
    """pytorch-fid's FID Inception-v3 (2048-d pool features, 1008-way softmax for IS).

    The architecture comes from the ``pytorch-fid`` package (``pip install pytorch-fid``);
    the weights only ever from the verified local file."""

    name = "inception"
    num_classes = 1008

    def __init__(self, path: str | Path | None = None, device: torch.device | str = "cpu"):
        weights = find_inception_weights(path)
        try:
            from pytorch_fid import inception as pf
        except ImportError:
            raise PixelsmithError("Inception features need the pytorch-fid package for the "
                                  "network definition: pip install pytorch-fid") from None
        net = pf._inception_v3(num_classes=1008, aux_logits=False, init_weights=False)
        net.Mixed_5b = pf.FIDInceptionA(192, pool_features=32)
        net.Mixed_5c = pf.FIDInceptionA(256, pool_features=64)
        net.Mixed_5d = pf.FIDInceptionA(288, pool_features=64)
        net.Mixed_6b = pf.FIDInceptionC(768, channels_7x7=128)
        net.Mixed_6c = pf.FIDInceptionC(768, channels_7x7=160)
        net.Mixed_6d = pf.FIDInceptionC(768, channels_7x7=160)
        net.Mixed_6e = pf.FIDInceptionC(768, channels_7x7=192)
        net.Mixed_7b = pf.FIDInceptionE_1(1280)
        net.Mixed_7c = pf.FIDInceptionE_2(2048)
        net.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
        self.net = net.eval().to(device)
        self.fingerprint = sha256_file(weights)[:16]

    def forward(self, x):
        n = self.net
        if x.shape[1] == 1:
            x = x.repeat(1, 3, 1, 1)  # gray -> RGB
        x = torch.nn.functional.interpolate(x, size=(299, 299), mode="bilinear",
                                            align_corners=False)
        for block in (n.Conv2d_1a_3x3, n.Conv2d_2a_3x3, n.Conv2d_2b_3x3, n.maxpool1,
                      n.Conv2d_3b_1x1, n.Conv2d_4a_3x3, n.maxpool2, n.Mixed_5b, n.Mixed_5c,
                      n.Mixed_5d, n.Mixed_6a, n.Mixed_6b, n.Mixed_6c, n.Mixed_6d, n.Mixed_6e,
                      n.Mixed_7a, n.Mixed_7b, n.Mixed_7c, n.avgpool):
            x = block(x)
        feats = torch.flatten(x, 1)  # (B, 2048)
        return feats, torch.softmax(n.fc(feats), dim=1)

"""Load a packaged model through the one run loader: its manifest plays the checkpoint's
``meta.json`` and its weights file the checkpoint's ``model.safetensors``, so a packaged
model and a user's run come back as the same objects (``Restorer``, inpainter)."""

from __future__ import annotations

from pathlib import Path

from safetensors import SafetensorError
from safetensors.torch import load_file

from pixelsmith.errors import PixelsmithError
from pixelsmith.hashing import sha256_file
from pixelsmith.training.checkpoint import Checkpoint
from pixelsmith.zoo.card import ModelCard, find_card


def card_checkpoint(card: ModelCard, *, verify: bool = True) -> Checkpoint:
    """The card's weights (float32) and config as a ``Checkpoint``; ``verify`` checks the
    weights' SHA-256 against the manifest first (a damaged install is an error, not a
    silently different model)."""
    path = card.weights_path
    if not path.is_file():
        raise PixelsmithError(f"{path}: the weights of packaged model '{card.name}' are "
                              "missing; reinstall pixelsmith")
    if verify and sha256_file(path) != card.manifest["sha256"]:
        raise PixelsmithError(f"{path}: SHA-256 differs from {card.folder / 'manifest.json'}; "
                              "the weights are damaged, reinstall pixelsmith")
    try:
        state = load_file(str(path))  # safetensors: plain tensors, no code
    except (OSError, SafetensorError) as e:
        raise PixelsmithError(f"{path}: unreadable weights ({e})") from None
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    meta = {"config": card.manifest["config"],
            "data": {"num_classes": int(card.manifest.get("num_classes", 0))},
            "step": int(card.manifest["training"].get("steps") or 0),
            # only the network that makes the outputs ships (an inpainter's generator, not
            # its discriminator): the loader builds the others but loads these alone
            "weights_of": sorted({k.split(".", 1)[0] for k in state}),
            # what was loaded, for records such as an export's manifest (verified above)
            "packaged": {"name": card.name, "weights": card.manifest["weights"],
                         "sha256": card.manifest["sha256"]}}
    return Checkpoint(card.folder, meta, state, None)


def load_pretrained(name: str, device: str = "auto", *, models_dir: Path | None = None):
    """A packaged model by name (``pixelsmith models`` lists them): a ``Restorer`` for
    denoising / super-resolution / deblurring, the inpainter's ``LoadedModel`` for
    inpainting, a generator's ``LoadedModel`` (GAN, VAE, diffusion) for ``generate``; the
    same objects ``load_restorer`` / ``load_inpainter`` / ``load_model`` give for a run."""
    from pixelsmith.restore import load_inpainter, load_restorer

    card = find_card(name, models_dir)
    ckpt = card_checkpoint(card)
    if card.task == "generate":
        from pixelsmith.generate import load_model

        return load_model(ckpt, device=device)
    if card.task == "inpaint":
        return load_inpainter(ckpt, device=device)
    return load_restorer(ckpt, device=device, use_ema=False)


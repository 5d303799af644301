"""Losses shared by the four unpaired methods."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from engine.nets.discriminators import HighPass

GANKind = Literal["lsgan", "vanilla", "hinge"]
PixelKind = Literal["l1", "mse", "charbonnier"]


class GANLoss:
    """Adversarial loss against a constant target.

    Parameters
    ----------
    kind
        "lsgan" (mean squared error), "vanilla" (BCE with logits) or "hinge".
    real, fake
        The default targets for real and fake.
    """

    def __init__(
        self, kind: GANKind = "lsgan", real: float = 1.0, fake: float = 0.0
    ) -> None:
        self.kind, self.real, self.fake = kind, real, fake

    def __call__(
        self, pred: torch.Tensor, is_real: bool, target: float | None = None
    ) -> torch.Tensor:
        """Loss of ``pred`` against real/fake, or against ``target`` when given.

        ``target`` overrides the label, e.g. 0.5 for the domain-adaptation
        encoder, which should leave the feature discriminator undecided.
        """
        t = target if target is not None else (self.real if is_real else self.fake)
        if self.kind == "lsgan":
            return ((pred - t) ** 2).mean()
        if self.kind == "vanilla":
            return F.binary_cross_entropy_with_logits(pred, torch.full_like(pred, t))
        return F.relu(1 - pred).mean() if is_real else F.relu(1 + pred).mean()


def relativistic_d(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """ESRGAN's relativistic average D loss (BCE on real minus mean fake)."""
    ones, zeros = torch.ones_like(real), torch.zeros_like(fake)
    return 0.5 * (
        F.binary_cross_entropy_with_logits(real - fake.mean(), ones)
        + F.binary_cross_entropy_with_logits(fake - real.mean(), zeros)
    )


def relativistic_g(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """ESRGAN's relativistic average generator loss (the labels swapped).

    The estimated-degradation method's paper profile trains with it.
    """
    return relativistic_d(fake, real)


def pixel(a: torch.Tensor, b: torch.Tensor, kind: PixelKind = "l1") -> torch.Tensor:
    """Pixel loss between ``a`` and ``b``."""
    if kind == "mse":
        return F.mse_loss(a, b)
    if kind == "charbonnier":
        return torch.sqrt((a - b) ** 2 + 1e-6).mean()
    return F.l1_loss(a, b)


def lowpass_l1(a: torch.Tensor, b: torch.Tensor, sigma: float) -> torch.Tensor:
    """L1 between the Gaussian low bands (``sigma`` px) of ``a`` and ``b``.

    The colour loss of frequency separation (Fritsche et al. 2019): with
    high-pass discriminators nothing else stops a translator from shifting
    colour and brightness, so this term keeps the low band where it was and
    leaves the high band (noise, blur, JPEG) to the adversarial game.
    """
    hp = _highpass(sigma).to(a.device)
    return pixel(a - hp(a), b - hp(b))


@lru_cache(maxsize=4)
def _highpass(sigma: float) -> nn.Module:
    return HighPass(sigma)


def dihedral(t: torch.Tensor, k: int, inverse: bool = False) -> torch.Tensor:
    """Apply the k-th of the 8 dihedral transforms to (..., H, W), or undo it."""
    if not inverse:
        if k >= 4:
            t = t.flip(-1)
        return torch.rot90(t, k % 4, (-2, -1))
    t = torch.rot90(t, -(k % 4), (-2, -1))
    return t.flip(-1) if k >= 4 else t


def geo_ensemble(
    net: nn.Module, x: torch.Tensor, out: torch.Tensor, ks: list[int]
) -> torch.Tensor:
    """Maeda's geometric-ensemble loss ``|G(x) - mean_k T_k^-1 G(T_k x)|_1``.

    Parameters
    ----------
    net
        The translator G.
    x
        Its input.
    out
        ``G(x)``, already computed.
    ks
        Which transforms to average (all 8 in the paper profile, one random
        non-identity one per step on a CPU, as in the kornia re-implementation).
    """
    ens = torch.stack(
        [dihedral(net(dihedral(x, k)), k, inverse=True) for k in ks]
    ).mean(0)
    return F.l1_loss(out, ens)


_VGG19_FILE = "vgg19-dcbb9e9d.pth"


def vgg_features(layer: int = 17) -> nn.Module | None:
    """VGG19 features up to ``layer`` (17 = relu3_4), or None without the weights.

    The weights are used only when torchvision's file is already on disk
    (``torch.hub`` cache); unsr never downloads at run time.
    """
    path = Path(torch.hub.get_dir()) / "checkpoints" / _VGG19_FILE
    if not path.is_file():
        return None
    from torchvision.models import vgg19

    net = vgg19(weights=None)
    net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    feats: nn.Module = net.features[: layer + 1].eval()
    for p in feats.parameters():
        p.requires_grad_(False)
    return feats


class Perceptual(nn.Module):
    """L1 between VGG19 features of ImageNet-normalised images."""

    def __init__(self, features: nn.Module) -> None:
        super().__init__()
        self.features = features
        self.register_buffer(
            "mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
        )
        self.register_buffer(
            "std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
        )

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Perceptual distance of ``a`` to ``b`` (gradients flow into ``a``)."""
        m, s = self.get_buffer("mean"), self.get_buffer("std")
        fa = self.features((a - m) / s)
        fb = self.features((b - m) / s).detach()
        return F.l1_loss(fa, fb)


__all__ = [
    "GANKind",
    "GANLoss",
    "Perceptual",
    "PixelKind",
    "dihedral",
    "geo_ensemble",
    "pixel",
    "relativistic_d",
    "relativistic_g",
    "vgg_features",
]

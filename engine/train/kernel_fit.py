"""A camera's blur kernel, measured on its own photos (KernelGAN-style).

KernelGAN (Bell-Kligler et al., NeurIPS 2019) finds the kernel k for which
halving a photo with k gives patches that a small discriminator cannot tell
from the photo's own patches: natural images look alike across scales, so
that k is the blur-and-subsample that made the photo. The generator is
DualSR's deep linear downsampler G_DN (one 13x13 stride-2 kernel once
composed), held by KernelGAN's priors (sum to one, centred, small at the
borders, sparse) and by the bicubic prior during its first iterations.

:class:`KernelFit` runs one such fit an iteration at a time, so a training
session can interleave it with its own steps; a finished fit's kernel goes to
the kernel pool (:mod:`engine.train.pools`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F

from engine.nets.discriminators import HighPass
from engine.nets.dualsr import DDn, GDn
from engine.nets.kernel_priors import (
    bicubic_down_filter,
    bicubic_target,
    center_crop,
    centre_of_mass,
    centre_target,
    kernel_terms,
    penalty_mask,
)
from engine.train.losses import GANLoss

#: Edge of G_DN's composed kernel.
KSIZE = 13
#: The smallest real-crop edge a fit can use: the critic's 7x7 head needs
#: G_DN's output (crop - 6) to be at least 7 pixels.
MIN_CROP = 14


@dataclass(frozen=True)
class KernelSpec:
    """How the camera's kernels are measured and pooled.

    Attributes
    ----------
    estimator : str
        "spectrum" (:mod:`engine.train.kernel_spectrum`, instant) or
        "kernelgan" (the adversarial fits below, a few hundred iterations each,
        interleaved with training).
    iters : int
        Iterations of one fit (one G_DN step and one critic step each).
    crop : int
        Edge of the photo crops the critic sees as real; G_DN halves crops of
        twice this edge. Smaller photos use a smaller crop (at least 14).
    batch : int
        Crops of each kind per iteration.
    g_width : int
        G_DN's hidden channels (64 in KernelGAN and DualSR).
    d_width, d_blocks : int
        The critic's channels and 1x1 blocks (64 and 5 in KernelGAN).
    lr : float
        Adam rate of both nets (betas 0.5, 0.999), divided by 10 at 50 % and
        75 % of a fit.
    d_lr_factor : float
        The critic's rate is ``lr`` times this.
    d_highpass : float
        When above 0, the critic sees crops minus their Gaussian blur of this
        sigma: the blur shows in the high band, and content (colour, shading)
        no longer distracts a critic that has a few hundred steps to learn.
    bicubic_until : float
        Fraction of a fit during which the bicubic prior holds G_DN near
        bicubic halving (KernelGAN's first phase).
    priors_from : float
        Fraction of a fit from which the centre and sparsity priors apply.
    w_reg : float
        Weight of the priors against the adversarial term.
    pool : int
        Kernels kept; the oldest is replaced by each new one.
    phase : float
        KernelGAN: the fraction of the run given to fitting only, before the
        SR net trains.
    warm_iters : int
        KernelGAN: fit iterations per training step in that phase.
    refresh_every : int
        Training steps between refreshes of the pool (0 freezes it): a new
        spectrum estimate, or one more KernelGAN iteration.
    """

    estimator: Literal["spectrum", "kernelgan"] = "spectrum"
    iters: int = 400
    crop: int = 32
    batch: int = 2
    g_width: int = 64
    d_width: int = 32
    d_blocks: int = 3
    lr: float = 2e-4
    d_lr_factor: float = 1.0
    d_highpass: float = 0.0
    bicubic_until: float = 0.1
    priors_from: float = 0.2
    w_reg: float = 2.0
    pool: int = 16
    phase: float = 0.05
    warm_iters: int = 6
    refresh_every: int = 20


def crop_for(photo: torch.Tensor, spec: KernelSpec) -> int:
    """The real-crop edge a fit on ``photo`` (3, H, W) uses; 0 if it is too small."""
    c = min(spec.crop, min(photo.shape[1:]) // 2)
    c -= c % 2
    return c if c >= MIN_CROP else 0


def _crop_weights(photo: torch.Tensor, size: int) -> torch.Tensor:
    """Probability of each top-left corner of a ``size`` crop, by its texture.

    Like KernelGAN's sampler, crops go where the gradients are: a flat crop
    says nothing about the blur, only about the noise.
    """
    grey = (photo * torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1)).sum(0)
    grad = torch.zeros_like(grey)
    grad[:, 1:] += (grey[:, 1:] - grey[:, :-1]).abs()
    grad[1:, :] += (grey[1:, :] - grey[:-1, :]).abs()
    win = F.avg_pool2d(grad[None, None], size, stride=1)[0, 0]
    # A floor keeps every corner possible (a flat photo still gets a fit).
    win = win + 0.05 * win.mean() + 1e-8
    return (win / win.sum()).flatten()


def _draw(
    photo: torch.Tensor, weights: torch.Tensor, size: int, n: int, g: torch.Generator
) -> torch.Tensor:
    w = photo.shape[2] - size + 1
    idx = torch.multinomial(weights, n, replacement=True, generator=g)
    crops = []
    for i in idx.tolist():
        r, c = divmod(i, w)
        crops.append(photo[:, r : r + size, c : c + size])
    return torch.stack(crops)


def bicubic_kernel() -> torch.Tensor:
    """Bicubic halving as a 13x13 kernel, centred where KernelGAN centres its own.

    The kernel of the pool while no fit has finished, or when no photo is big
    enough for one.
    """
    k = torch.zeros(KSIZE, KSIZE)
    k[3:11, 3:11] = bicubic_down_filter()
    return k


def recentre(k: torch.Tensor) -> torch.Tensor:
    """Normalise ``k`` to sum 1 and shift it (bicubically) to KernelGAN's centre.

    A kernel off-centre by a fraction of a pixel would shift every training
    LR against its HR, and the SR network would learn that shift.
    """
    k = k / k.sum()
    shift = centre_of_mass(k) - centre_target(KSIZE)
    n = KSIZE
    # grid_sample's coordinates: -1..1 across the kernel (align_corners=True).
    lin = torch.linspace(-1, 1, n, dtype=k.dtype)
    gy, gx = torch.meshgrid(
        lin + 2 * float(shift[0]) / (n - 1),
        lin + 2 * float(shift[1]) / (n - 1),
        indexing="ij",
    )
    grid = torch.stack([gx, gy], -1)[None]
    out = F.grid_sample(k[None, None], grid, "bicubic", "zeros", align_corners=True)
    out = out[0, 0]
    return out / out.sum()


class KernelFit:
    """One KernelGAN fit after another, advanced an iteration at a time.

    Parameters
    ----------
    spec
        The fit's settings.
    device
        Where the two nets live.

    The caller owns the nets' optimisers (``g_dn`` and ``d`` are registered in
    the training session, so checkpoints and resumes keep them); this class
    computes the losses and tracks which photo is fitted and how far.
    """

    def __init__(self, spec: KernelSpec, device: torch.device) -> None:
        self.spec, self.device = spec, device
        self.g_dn = GDn(spec.g_width).to(device)
        self.d = DDn(spec.d_width, spec.d_blocks).to(device)
        self.mask = penalty_mask(KSIZE).to(device)
        self.band = (
            HighPass(spec.d_highpass).to(device) if spec.d_highpass > 0 else None
        )
        self.gan = GANLoss("lsgan")
        #: Fits started so far, and the iterations done in the current one.
        self.fits = 0
        self.it = 0
        self._cache: tuple[int, int, torch.Tensor, torch.Tensor] | None = None

    def reset(self, g: torch.Generator) -> None:
        """Fresh weights for a new fit, drawn reproducibly from ``g``.

        The nets' own initialisers use the global generator; a forked one,
        seeded from ``g``, keeps a resumed run identical.
        """
        seed = int(torch.randint(0, 2**62, (1,), generator=g))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            fresh_g, fresh_d = (
                GDn(self.spec.g_width),
                DDn(self.spec.d_width, self.spec.d_blocks),
            )
        self.g_dn.load_state_dict(fresh_g.state_dict())
        self.d.load_state_dict(fresh_d.state_dict())

    def weights(
        self, index: int, photo: torch.Tensor, crop: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Crop weights of photo ``index`` for real and G_DN crops (cached)."""
        if self._cache is None or self._cache[:2] != (index, crop):
            self._cache = (
                index,
                crop,
                _crop_weights(photo, crop),
                _crop_weights(photo, 2 * crop),
            )
        return self._cache[2], self._cache[3]

    def crops(
        self, index: int, photo: torch.Tensor, g: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Real crops x (B, 3, c, c) and crops y (B, 3, 2c, 2c) for G_DN."""
        c = crop_for(photo, self.spec)
        wx, wy = self.weights(index, photo, c)
        n = self.spec.batch
        x = _draw(photo, wx, c, n, g).to(self.device)
        y = _draw(photo, wy, 2 * c, n, g).to(self.device)
        return x, y

    def rate(self) -> float:
        """The learning rate at the current iteration of the fit."""
        frac = self.it / self.spec.iters
        return (
            self.spec.lr
            * (0.1 if frac >= 0.5 else 1.0)
            * (0.1 if frac >= 0.75 else 1.0)
        )

    def g_loss(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, float]:
        """G_DN's loss on crops ``y``; also its output and the prior term."""
        s = self.spec
        frac = self.it / s.iters
        k = self.g_dn.composed_kernel()
        b, c, h, w = y.shape
        fake = F.conv2d(y.reshape(b * c, 1, h, w), k[None, None], stride=2)
        fake = fake.reshape(b, c, fake.shape[-2], fake.shape[-1])
        self.d.requires_grad_(False)
        adv = self.gan(self.critic(fake), True)
        self.d.requires_grad_(True)
        terms = kernel_terms(k, self.mask)
        reg = 0.5 * terms["sum"] + 0.5 * terms["bound"]
        if frac < s.bicubic_until:
            target = bicubic_target(y, fake.shape[-1], sum_channels=False)
            reg = reg + 5.0 * ((fake - target) ** 2).mean()
        if frac >= s.priors_from:
            reg = reg + terms["cent"] + 5.0 * terms["sparse"]
        return adv + s.w_reg * reg, fake, float(reg.detach())

    def d_loss(self, x: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        """The critic's loss: real crops against G_DN's output (detached)."""
        real = self.critic(center_crop(x, fake.shape[-1]))
        fake_p = self.critic(fake.detach())
        return 0.5 * (self.gan(real, True) + self.gan(fake_p, False))

    def critic(self, x: torch.Tensor) -> torch.Tensor:
        """The critic's map on ``x`` (its high band, when configured)."""
        out: torch.Tensor = self.d(self.band(x) if self.band is not None else x)
        return out

    def kernel(self) -> torch.Tensor:
        """The current fit's kernel, normalised and centred, on the CPU."""
        with torch.no_grad():
            return recentre(self.g_dn.composed_kernel().detach().float().cpu())


__all__ = [
    "KSIZE",
    "MIN_CROP",
    "KernelFit",
    "KernelSpec",
    "bicubic_kernel",
    "crop_for",
    "recentre",
]

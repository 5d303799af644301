"""Every knob of a DualSR fit, and the named profiles.

``paper`` reproduces the DualSR authors' code, quirks included: where that code
does something its paper does not say, a named flag below keeps it (the field
descriptions number these quirks; the losses refer to them). ``fast`` is the
CPU default, tuned by measurement against ``paper`` (docs/benchmarks.md,
"DualSR").
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

#: The guard's signals a rule may read (see guard.signals).
GuardSignal = Literal[
    "cross_scale",
    "kernel_m2",
    "kernel_dist",
    "spectral_m2",
    "learned_over_spectral",
    "gan_end",
    "disc_end",
]


@dataclass(frozen=True)
class DualSRParams:
    """Settings of one DualSR fit (x2).

    Attributes
    ----------
    iters : int
        Training iterations (one G step and one D step each).
    batch : int
        Crops per iteration of each kind.
    lr_crop : int
        Edge of the LR crops (the HR crops are twice this). Must be even.
    min_lr_crop : int
        Smallest LR crop the fit adapts down to for small images.
    up_width, up_depth : int
        G_UP's hidden channels and number of convs.
    up_at_lr : bool
        G_UP's body runs on the LR pixels and pixel-shuffles to x2 (a quarter
        of the work) instead of on the bilinear x2 image (the paper).
    dn_width : int
        G_DN's hidden channels.
    d_width : int
        D_DN's channels.
    lr_up, lr_dn, lr_d : float
        Adam learning rates of G_UP, G_DN, D_DN (betas 0.5, 0.999).
    lr_step : int
        Iterations between LR decays (G_UP halves, G_DN and D divide by
        ``dn_lr_decay``). Scaled with ``iters`` in compressed schedules.
    dn_lr_decay : float
        Divisor of G_DN's and D's learning rates at each step.
    lambda_cycle, lambda_interp, lambda_reg : float
        Loss weights.
    lambda_update_every : int
        Iterations between decays of the bicubic-prior weight.
    border_cut : int
        Pixels cut from every border before sampling (quirk 3).
    bicubic_prior_sums_channels : bool
        Quirk 1: the bicubic-prior target is blur(R+G+B) for every channel
        (3x too bright), as in the authors' code. False applies it per channel.
    d_paper_init : bool
        Quirk 2: keep PyTorch's default init on D's spectrally normalised convs.
    mask_mean_over_mask : bool
        Quirk 5 fixed when True: divide the masked L1 by the mask's sum.
    deep_dn : bool
        Run G_DN as the literal six-layer chain instead of the composed kernel
        (same maths; only for checks and timing).
    bf16 : bool
        bf16 autocast for G_UP and D where it pays (CUDA, AMX CPUs; the
        weights and G_DN stay float32).
    critic_bf16 : bool
        With ``bf16``, D runs under the autocast too; False keeps D in float32
        (measured: no better on the mean, ~10 ms more an iteration).
    channels_last : bool
        channels_last memory format for G_UP and D (exact; on in both profiles
        because oneDNN's backward is much faster in that layout).
    early_stop : bool
        Stop when the smoothed cycle loss has not improved for ``patience``
        iterations (after ``min_iters``).
    patience, min_iters : int
        Early-stopping settings.
    ema : float
        Decay of an exponential moving average of G_UP's weights used for the
        output (0 disables it: the last weights are used, as in the paper).
    kernel_every_s, preview_every_s, losses_every : float
        How often Kernel / Preview / Losses events are emitted.
    seed : int or None
        Seed of the fit; None uses the run context's seed.
    reuse : str or None
        A run folder whose saved fit is applied instead of fitting this photo
        (one fit for a whole shoot; see :mod:`engine.methods.dualsr.reuse`).
    guard : {"off", "blend"}
        What the fit does with its own signals (:mod:`engine.methods.dualsr.guard`)
        against overshooting: "blend" mixes the output toward bicubic by a
        weight that follows the signal ``guard_signal``, from ``guard_floor``
        at ``guard_range[0]`` to 1 (the fit alone) at ``guard_range[1]``.
    guard_signal : str
        The signal that sets the blend weight, a name of
        :func:`engine.methods.dualsr.guard.signals`.
    guard_range : tuple of float
        The signal's values where the blend weight is ``guard_floor`` and where
        it reaches 1 (either may be the larger).
    guard_floor : float
        The blend weight at and beyond ``guard_range[0]``.
    guard_stop_at : float
        The fraction of ``iters`` after which the guard reads its signal once
        and ends the fit when the signal is more than ``guard_stop_margin``
        beyond ``guard_range[0]`` (on the floor's side): the output would be
        the floor's blend whatever the rest of the fit did. 0 never stops.
    guard_stop_margin : float
        How far beyond ``guard_range[0]`` the signal must be to stop, in the
        signal's units.
    """

    iters: int = 3000
    batch: int = 2
    lr_crop: int = 64
    min_lr_crop: int = 24
    up_width: int = 64
    up_depth: int = 8
    up_at_lr: bool = False
    dn_width: int = 64
    d_width: int = 64
    lr_up: float = 1e-3
    lr_dn: float = 2e-4
    lr_d: float = 2e-4
    lr_step: int = 750
    dn_lr_decay: float = 4.0
    lambda_cycle: float = 5.0
    lambda_interp: float = 2.0
    lambda_reg: float = 2.0
    lambda_update_every: int = 200
    border_cut: int = 10
    bicubic_prior_sums_channels: bool = True
    d_paper_init: bool = True
    mask_mean_over_mask: bool = False
    deep_dn: bool = False
    bf16: bool = False
    critic_bf16: bool = True
    channels_last: bool = True
    early_stop: bool = False
    patience: int = 300
    min_iters: int = 600
    ema: float = 0.0
    kernel_every_s: float = 1.0
    preview_every_s: float = 3.0
    losses_every: int = 10
    seed: int | None = None
    reuse: str | None = None
    guard: Literal["off", "blend"] = "off"
    guard_signal: GuardSignal = "cross_scale"
    guard_range: tuple[float, float] = (0.95, 1.05)
    guard_floor: float = 0.0
    guard_stop_at: float = 0.0
    guard_stop_margin: float = 0.1

    def with_(self, **changes: Any) -> DualSRParams:
        """Return a copy with ``changes`` applied."""
        return replace(self, **changes)


PAPER = DualSRParams()

#: Measured on the DIV2KRK-style set (docs/benchmarks.md, "DualSR", "History"): G_UP
#: 32 wide on 48px LR crops costs ~1/3.5 of a paper iteration (G_DN is the exact
#: composed kernel in both); the bicubic prior per channel (quirk 1 fixed) skips
#: the paper's ~300 dark iterations; 1400 iterations with G_UP's LR halving every
#: 600 gave 29.67 dB (1000 with halving every 250 / 450: 28.28 / 28.65) in ~1/10
#: of the paper's time. bf16 autocast for G_UP and D: on a CPU with native
#: bf16 (AMX) it takes a fast iteration from 0.135 to 0.081 s at two threads,
#: elsewhere the autocast is a no-op (engine.device.autocast); fp32 weights,
#: fp32 inference. Early stopping is available but unmeasured, so off. G_UP's
#: body on the LR pixels (``up_at_lr``) takes a fast fp32 iteration to ~0.6 of
#: its time but lost 0.47 dB on astronaut over three seeds, so it stays at x2.
#:
#: The guard (docs/benchmarks.md, "The guard"): on held-out photos whose blur is
#: near bicubic's, the fit learns a kernel several times too wide and loses up
#: to 6 dB; its cross-scale ratio (the photo shrunk by the learned kernel
#: against the photo, in mean gradient) then falls below 0.95, while with the
#: true kernel it is 1.08-1.46 on 11 of 12 photos. Below 0.95 the output is
#: bicubic, above 1.05 the fit's, linear in between. The ratio settles by
#: mid-fit (after iteration 700 it rose by at most 0.11 on 36 fits of twelve
#: photos), so a fit whose ratio is below 0.85 at half-way stops there: its
#: output is bicubic, and would have been at most a 0.1 blend had it gone on.
FAST = DualSRParams(
    iters=1400,
    lr_step=600,
    lambda_update_every=60,
    lr_crop=48,
    up_width=32,
    bicubic_prior_sums_channels=False,
    bf16=True,
    guard="blend",
    guard_stop_at=0.5,
)

#: Named profiles; the first is the default.
PROFILES: dict[str, DualSRParams] = {"fast": FAST, "paper": PAPER}

__all__ = ["FAST", "PAPER", "PROFILES", "DualSRParams"]

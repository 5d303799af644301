"""A DualSR profile small enough for tests, shared by the DualSR test modules."""

from __future__ import annotations

from typing import Any

from engine.methods.dualsr import PAPER, DualSRParams


def tiny(iters: int, **changes: Any) -> DualSRParams:
    """The paper profile shrunk to a few tiny iterations (nets, crops, no timers)."""
    return PAPER.with_(
        iters=iters,
        lr_crop=24,
        up_width=8,
        up_depth=3,
        dn_width=8,
        d_width=8,
        lambda_update_every=2,
        kernel_every_s=0.0,
        preview_every_s=0.0,
        border_cut=0,
        **changes,
    )

"""An exponential moving average of the nets inference uses.

Adversarial training moves the generators in circles: the weights at the last
step are one point on an orbit, and where the run stops decides the result.
The average of the recent weights sits near the orbit's centre, so inference
uses it (as SRGAN-PyTorch and ESRGAN ship an EMA generator). The live weights
keep training; the average only follows them.

The average starts equal to the live weights (after a warm start, if any), and
its decay ramps up as ``(1 + n) / (10 + n)`` until it reaches the configured
value, so the first steps do not anchor it to the random initialisation.
Parameters are averaged; buffers (batch-norm statistics) are copied, since an
average of running statistics is not the statistics of the averaged net.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

StateDict = dict[str, torch.Tensor]


class EMA:
    """Shadow copies of some nets' weights, updated after every step.

    Parameters
    ----------
    nets
        The nets to follow, by name (unwrapped, not DistributedDataParallel).
    decay
        The long-run decay per step, in (0, 1).
    """

    def __init__(self, nets: Mapping[str, nn.Module], decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"the EMA decay must be between 0 and 1, not {decay}")
        self.decay = decay
        self.updates = 0
        self.shadow: dict[str, StateDict] = {
            name: {k: v.detach().clone() for k, v in net.state_dict().items()}
            for name, net in nets.items()
        }
        self._params = {
            name: {k for k, _ in net.named_parameters()} for name, net in nets.items()
        }

    def current_decay(self) -> float:
        """The decay the next update uses (ramped up over the first steps)."""
        n = self.updates + 1
        return min(self.decay, (1 + n) / (10 + n))

    @torch.no_grad()
    def update(self, nets: Mapping[str, nn.Module]) -> None:
        """Move every shadow towards its live net by one step."""
        d = self.current_decay()
        self.updates += 1
        for name, shadow in self.shadow.items():
            params = self._params[name]
            for key, live in nets[name].state_dict().items():
                target = shadow[key]
                if key in params and target.is_floating_point():
                    target.lerp_(live.detach(), 1.0 - d)
                else:
                    target.copy_(live)

    def state(self) -> dict[str, Any]:
        """Everything a resumed run needs (for the checkpoint's training state)."""
        return {"decay": self.decay, "updates": self.updates, "nets": self.shadow}

    def load(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state`; the nets must be the ones this EMA follows."""
        nets = state["nets"]
        if set(nets) != set(self.shadow):
            raise ValueError(
                f"the saved average covers {sorted(nets)}, not {sorted(self.shadow)}"
            )
        for name, shadow in self.shadow.items():
            for key, value in nets[name].items():
                shadow[key].copy_(value)
        self.updates = int(state["updates"])


__all__ = ["EMA"]

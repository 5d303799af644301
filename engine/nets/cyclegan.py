"""The faithful CycleGAN ResNet generator, for the "paper" profiles of (c)/(d).

Data stays in [0, 1] outside the net: the input is mapped to [-1, 1] and the
tanh output back to [0, 1], which avoids the range mismatch of Vega's code.
"""

from __future__ import annotations

import torch
from torch import nn


class _ReflectResBlock(nn.Module):
    def __init__(self, ch: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1),
            nn.Conv2d(ch, ch, 3),
            nn.InstanceNorm2d(ch),
            nn.ReLU(True),
            nn.ReflectionPad2d(1),
            nn.Conv2d(ch, ch, 3),
            nn.InstanceNorm2d(ch),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = x + self.body(x)
        return out


class ResnetGenerator(nn.Module):
    """c7s1-ngf, two stride-2 downs, ``n_blocks`` ResBlocks, two transposed ups.

    The input's height and width must be multiples of 4.
    """

    def __init__(self, ngf: int = 64, n_blocks: int = 9) -> None:
        super().__init__()
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(3, ngf, 7),
            nn.InstanceNorm2d(ngf),
            nn.ReLU(True),
        ]
        for i in range(2):
            c = ngf * 2**i
            layers += [
                nn.Conv2d(c, 2 * c, 3, 2, 1),
                nn.InstanceNorm2d(2 * c),
                nn.ReLU(True),
            ]
        layers += [_ReflectResBlock(ngf * 4) for _ in range(n_blocks)]
        for i in range(2):
            c = ngf * 4 // 2**i
            layers += [
                nn.ConvTranspose2d(c, c // 2, 3, 2, 1, output_padding=1),
                nn.InstanceNorm2d(c // 2),
                nn.ReLU(True),
            ]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, 3, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)
        for m in self.modules():
            if isinstance(m, nn.Conv2d | nn.ConvTranspose2d):
                nn.init.normal_(m.weight, 0.0, 0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        """Translate ``x`` in [0, 1]; ``z`` is accepted and ignored."""
        out: torch.Tensor = (self.model(x * 2 - 1) + 1) / 2
        return out


__all__ = ["ResnetGenerator"]

"""Plain ``nn.Module`` building blocks shared by the unpaired methods."""

from engine.nets.blocks import (
    RCAB,
    RRDB,
    MeanShift,
    ResBlock,
    ResidualGroup,
    Upsampler,
    conv,
)
from engine.nets.cyclegan import ResnetGenerator
from engine.nets.discriminators import PatchD, PatchSpec, VGGStyleD
from engine.nets.sr import SRNet, SRNetSpec
from engine.nets.translator import LRTranslator, TranslatorSpec

__all__ = [
    "RCAB",
    "RRDB",
    "LRTranslator",
    "MeanShift",
    "PatchD",
    "PatchSpec",
    "ResBlock",
    "ResidualGroup",
    "ResnetGenerator",
    "SRNet",
    "SRNetSpec",
    "TranslatorSpec",
    "Upsampler",
    "VGGStyleD",
    "conv",
]

"""Shapes and starting behaviour of the shared building blocks."""

from __future__ import annotations

import pytest
import torch

from engine.nets import (
    RCAB,
    RRDB,
    LRTranslator,
    PatchD,
    PatchSpec,
    ResBlock,
    ResidualGroup,
    ResnetGenerator,
    SRNet,
    SRNetSpec,
    TranslatorSpec,
    Upsampler,
    VGGStyleD,
)
from engine.nets.translator import draw_noise

torch.set_num_threads(1)


def test_blocks_keep_the_shape() -> None:
    x = torch.rand(2, 8, 12, 12)
    for block in (
        ResBlock(8),
        ResBlock(8, 5, "prelu", "batch"),
        RCAB(8, 4),
        RRDB(8, 4),
    ):
        assert block(x).shape == x.shape
    assert ResidualGroup(8, 2, 4)(x).shape == x.shape


@pytest.mark.parametrize(
    ("scale", "mode"), [(2, "shuffle"), (4, "nearest"), (3, "shuffle")]
)
def test_upsampler_scales(scale: int, mode: str) -> None:
    up = Upsampler(scale, 8, mode)  # type: ignore[arg-type]
    assert up(torch.rand(1, 8, 5, 6)).shape == (1, 8, 5 * scale, 6 * scale)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_shuffle_upsampler_starts_without_a_checkerboard(scale: int) -> None:
    """ICNR: at init every sub-pixel of a block equals its neighbours."""
    torch.manual_seed(0)
    up = Upsampler(scale, 8, "shuffle")
    out = up(torch.rand(1, 8, 5, 6))
    # The last shuffle stage (x3, or x2 of x2/x4) leaves f x f flat blocks.
    f = 3 if scale == 3 else 2
    block = out[:, :, ::f, ::f]
    for i in range(f):
        for j in range(f):
            assert torch.allclose(out[:, :, i::f, j::f], block, atol=1e-6)


@pytest.mark.parametrize("body", ["edsr", "rcan", "srresnet", "vdsr", "rrdb"])
def test_srnet_bodies_upscale_and_split(body: str) -> None:
    torch.manual_seed(0)
    net = SRNet(SRNetSpec(body, nf=8, nb=2, ng=2, split=1), scale=2).eval()  # type: ignore[arg-type]
    x = torch.rand(1, 3, 10, 12)
    out = net(x)
    assert out.shape == (1, 3, 20, 24)
    # encode/decode are the two halves of forward (E and G_SR of method (b)).
    assert torch.allclose(net.decode(net.encode(x), x), out)


def test_translator_starts_as_the_identity() -> None:
    x = torch.rand(2, 3, 16, 16)
    net = LRTranslator(TranslatorSpec(nf=8, nb=1))
    assert torch.equal(net(x), x)
    noisy = LRTranslator(TranslatorSpec(nf=8, nb=1, k=5, zero_tail=False), noise_ch=1)
    z1, z2 = torch.randn(2, 1, 4, 4), torch.randn(2, 1, 4, 4)
    assert not torch.allclose(noisy(x, z1), noisy(x, z2))  # z matters
    with pytest.raises(ValueError, match="noise"):
        noisy(x)
    feat = LRTranslator(
        TranslatorSpec(nf=8, nb=1, global_skip=False), in_ch=8, out_ch=3
    )
    assert feat(torch.rand(1, 8, 6, 6)).shape == (1, 3, 6, 6)


@pytest.mark.parametrize("noise_scale", [1, 4])
def test_a_noisy_translator_takes_any_image_size(noise_scale: int) -> None:
    # Whole photos (previews, probes) are rarely a multiple of 4 in size.
    spec = TranslatorSpec(nf=8, nb=1, zero_tail=False, noise_scale=noise_scale)
    net = LRTranslator(spec, noise_ch=1)
    for h, w in ((37, 41), (150, 148), (32, 32)):
        x = torch.rand(1, 3, h, w)
        assert net(x, draw_noise(spec, x)).shape == x.shape


def test_resnet_generator_stays_in_range() -> None:
    out = ResnetGenerator(ngf=4, n_blocks=1)(torch.rand(1, 3, 16, 16))
    assert out.shape == (1, 3, 16, 16) and out.min() >= 0 and out.max() <= 1


def test_patch_discriminator_strides() -> None:
    x = torch.rand(1, 3, 32, 32)
    assert PatchD(PatchSpec(8, (2, 2, 2, 1), "instance"))(x).shape == (1, 1, 2, 2)
    assert PatchD(PatchSpec(8, (1, 1, 1), padding=0))(x).shape == (1, 1, 20, 20)
    assert (
        PatchD(PatchSpec(8, (2, 1), "sn"), in_ch=8)(torch.rand(1, 8, 8, 8)).shape[1]
        == 1
    )


def test_vgg_style_discriminator() -> None:
    assert VGGStyleD(3, 4, 32)(torch.rand(2, 3, 32, 32)).shape == (2, 1)
    with pytest.raises(ValueError, match="multiple of 16"):
        VGGStyleD(3, 4, 30)


def test_highpass_discriminator_ignores_the_low_band() -> None:
    """With ``highpass`` the D's verdict does not move with flat shading."""
    from engine.nets.discriminators import HighPass

    hp = HighPass(1.0)
    flat = torch.full((1, 3, 24, 24), 0.7)
    assert hp(flat).abs().max() < 1e-6
    noise = torch.randn(1, 3, 24, 24, generator=torch.Generator().manual_seed(0))
    # White noise keeps most of its energy in the high band.
    assert hp(noise).std() > 0.7 * noise.std()
    d = PatchD(PatchSpec(ndf=8, strides=(2, 1), highpass=1.0))
    base = torch.rand(2, 3, 24, 24, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(d(base), d(base + 0.2), atol=1e-5)
    # The fixed filter is not a parameter and not in the state dict.
    plain = PatchD(PatchSpec(ndf=8, strides=(2, 1)))
    assert len(d.state_dict()) == len(plain.state_dict())

"""Real mouth detail borrowed from the actor's own registered mouths (s2l_dub.model.detail)."""

import torch

from s2l_dub.model.detail import DetailBank, DetailConfig, gaussian_blur


def _mouths(count: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(count, 3, 24, 36, generator=generator)


def test_a_mouth_in_the_bank_gets_its_own_detail_back():
    mouths = _mouths(12)
    mask = torch.ones(1, 1, 24, 36)
    bank = DetailBank.build(mouths, mask, DetailConfig(neighbours=1))
    assert (bank.transfer(mouths[3:4], mask) - mouths[3:4]).abs().max() < 2e-3  # float16 detail
    soft = gaussian_blur(mouths[3:4], 2.0)  # the generator's soft version of mouth 3
    sharpened = bank.transfer(soft, mask)

    def detail(x):
        return (x - gaussian_blur(x, 1.0)).abs().mean()

    assert detail(sharpened) > 3 * detail(soft)
    assert (sharpened - mouths[3:4]).abs().mean() < (soft - mouths[3:4]).abs().mean()


def test_strength_zero_leaves_the_mouth_alone():
    mouths = _mouths(6)
    mask = torch.ones(1, 1, 24, 36)
    bank = DetailBank.build(mouths, mask, DetailConfig(strength=0.0))
    query = _mouths(2, seed=1)
    assert torch.equal(bank.transfer(query, mask), query)


def test_neighbours_are_chosen_by_shape_not_detail():
    """Two bank mouths share a shape; the one whose low frequencies match is the nearest."""
    mask = torch.ones(1, 1, 24, 36)
    dark, bright = torch.full((1, 3, 24, 36), 0.2), torch.full((1, 3, 24, 36), 0.8)
    noise = 0.1 * torch.randn(1, 3, 24, 36, generator=torch.Generator().manual_seed(0))
    bank = DetailBank.build(torch.cat([dark + noise, bright]), mask, DetailConfig(neighbours=1))
    out = bank.transfer(torch.full((1, 3, 24, 36), 0.25), mask)
    assert (out - 0.25).std() > 0.5 * noise.std()  # the dark mouth's detail came across

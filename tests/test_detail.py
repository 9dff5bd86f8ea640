"""Real mouth detail borrowed from the actor's own registered mouths (s2l_dub.model.detail)."""

import torch

from s2l_dub.model.detail import DetailBank, DetailConfig, choose_path, gaussian_blur, match_range


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


def test_the_path_stays_on_consecutive_footage_unless_a_jump_pays():
    """Bank rows 0-5 are consecutive frames; rows 6-9 another take. A query that wanders between
    the two takes follows one take when jumps cost, and picks each frame's nearest when they do not."""
    bank = torch.tensor([[0.0], [1.0], [2.0], [3.0], [4.0], [5.0], [1.2], [2.2], [10.0], [11.0]])
    frame_ids = torch.tensor([0, 1, 2, 3, 4, 5, 100, 101, 200, 201])
    query = torch.tensor([[0.0], [1.15], [2.0], [3.0]])
    assert choose_path(query, bank, frame_ids, candidates=4, switch_cost=0.0).tolist() == [0, 6, 2, 3]
    assert choose_path(query, bank, frame_ids, candidates=4, switch_cost=5.0).tolist() == [0, 1, 2, 3]


def test_the_speaking_range_becomes_the_actors_own_in_the_same_order():
    """A generator's shrunken opening, matched to the actor's speaking range: the frames keep their
    order, the speaking frames take the target mean and spread, later components are untouched."""
    generator = torch.Generator().manual_seed(0)
    shape = torch.randn(200, 4, generator=generator) * torch.tensor([0.3, 0.2, 1.0, 1.0])
    speaking = torch.arange(200) % 5 != 0
    matched = match_range(shape, speaking, torch.tensor([2.0, -1.0]), torch.tensor([1.5, 0.5]))
    spoken = matched[speaking]
    assert torch.allclose(spoken[:, :2].mean(0), torch.tensor([2.0, -1.0]), atol=1e-4)
    assert torch.allclose(spoken[:, :2].std(0), torch.tensor([1.5, 0.5]), atol=1e-4)
    assert torch.equal(matched[:, 2:], shape[:, 2:])
    assert torch.equal(matched[:, 0].argsort(), shape[:, 0].argsort())


def test_the_speaking_range_is_stretched_no_further_than_the_cap():
    """A nearly still generated shape is scaled by at most ``max_scale``: its noise must not become
    the actor's whole range; the mean is still the actor's."""
    generator = torch.Generator().manual_seed(1)
    shape = torch.randn(100, 2, generator=generator) * 0.01
    speaking = torch.ones(100, dtype=torch.bool)
    matched = match_range(shape, speaking, torch.tensor([1.0]), torch.tensor([1.0]), max_scale=3.0)
    assert torch.allclose(matched[:, 0].std(), shape[:, 0].std() * 3.0, rtol=1e-4)
    assert torch.allclose(matched[:, 0].mean(), torch.tensor(1.0), atol=1e-4)

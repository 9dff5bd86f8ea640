"""Real mouth detail borrowed from the actor's own registered mouths (s2l_dub.model.detail)."""

import torch

from s2l_dub.model.detail import DetailBank, DetailConfig, choose_path, gaussian_blur, match_range, open_to_actor


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


def test_opening_is_stretched_about_the_closed_mouth():
    """Along the opening direction, the generator's closed level lands on the actor's closed level and
    the speaking rows' mean on the actor's speaking level; silent rows stay closed, the order is kept,
    and what lies across the direction is untouched."""
    direction = torch.tensor([0.6, 0.8, 0.0])
    generator = torch.Generator().manual_seed(2)
    across = torch.randn(60, 3, generator=generator) * torch.tensor([0.8, -0.6, 1.0])[None] * 0.1
    speaking = torch.arange(60) >= 20
    level = torch.where(speaking, 0.5 + 0.2 * torch.rand(60, generator=generator), torch.full((60,), 0.1))
    shape = level[:, None] * direction[None] + across - (across @ direction)[:, None] * direction[None]
    opened = open_to_actor(shape, speaking, direction, closed_generated=0.1, closed_real=-0.2, speaking_real=1.0)
    along = opened @ direction
    assert torch.allclose(along[~speaking], torch.full((20,), -0.2), atol=1e-5)
    assert torch.allclose(along[speaking].mean(), torch.tensor(1.0), atol=1e-5)
    assert torch.equal(along[speaking].argsort(), (shape @ direction)[speaking].argsort())
    residual = opened - along[:, None] * direction[None]
    assert torch.allclose(residual, shape - (shape @ direction)[:, None] * direction[None], atol=1e-6)
    # A track that already opens wider than the actor is never shrunk, and the stretch is capped.
    wide = open_to_actor(shape * 10, speaking, direction, 0.0, 0.0, 1.0)
    assert torch.allclose(wide, shape * 10, atol=1e-5)
    # Speaking rows no more open than the closed level give nothing to widen: left as they are.
    assert torch.equal(open_to_actor(shape, speaking, direction, 0.9, 0.0, 1.0), shape)
    capped = open_to_actor(shape, speaking, direction, 0.1, 0.1, 100.0, max_scale=3.0)
    assert torch.allclose((capped @ direction)[speaking].mean() - 0.1,
                          3.0 * ((shape @ direction)[speaking].mean() - 0.1), atol=1e-5)


def test_the_bank_learns_the_opening_from_the_actors_own_frames():
    mouths = torch.rand(40, 3, 56, 80, generator=torch.Generator().manual_seed(3))
    mouths[20:, :, 24:32, 24:56] = 0.0  # the speaking half shows a dark opening
    speaking = torch.arange(40) >= 20
    generated = mouths * 0.5 + 0.25  # a flatter copy: the generator's shrunken range
    config = DetailConfig(mode="path", switch_cost=1.0, open_anchor=True)
    mask = torch.ones(1, 1, 56, 80)
    bank = DetailBank.build(mouths, mask, config, generated, speaking=speaking)
    closed_generated, closed_real, speaking_real = bank.open_levels
    assert speaking_real > closed_real
    assert torch.isclose(bank.open_direction.norm(), torch.tensor(1.0))
    out = bank.transfer(generated[18:24], mask, speaking=speaking[18:24])
    assert out.shape == generated[18:24].shape

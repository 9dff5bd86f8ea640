"""Real mouth detail from the actor's own footage (issue 22).

The generator decides a mouth's shape and timing from the sound, but a pixel loss on a
minute of speech settles on the average of the mouths a sound allows: soft lips, teeth as
a dark blur. The actor's training frames hold the real mouths, registered to one another
in the canonical lip box. Here each generated mouth keeps its own low frequencies (shape,
opening, shading) and takes its high frequencies (lip lines, teeth edges) from the
training mouths it is nearest to, as per-speaker systems built on their own footage did
before neural rendering (Synthesizing Obama, 2017).

Pure tensor functions: the bank is built once per actor, the transfer runs per batch.
"""

from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn.functional as F


@dataclasses.dataclass(frozen=True)
class DetailConfig:
    neighbours: int = 8
    """Training mouths whose detail is blended into each generated one (4 is sharper, but costs
    tight-box SSIM; 1 flickers and costs more)."""
    sigma_px: float = 2.0
    """Gaussian sigma (lip-box pixels) separating shape (below) from detail (above)."""
    match_px: int = 24
    """Width the mouths are compared at: detail must not decide the match."""
    temperature: float = 0.5
    """Softness of the neighbours' weights, relative to the nearest one's distance."""
    strength: float = 1.0
    """Share of the borrowed detail added (0: the generator's mouth as it was)."""
    mode: str = "detail"
    """'detail': the generated mouth keeps its shape and takes the neighbours' detail above the
    cut-off. 'mouth': the neighbours' whole mouths, chosen by the generated shape after its range
    is stretched to the actor's own (``components``), with the generated mouth's broad shading."""
    components: int = 12
    """Principal components of the mouths' shape that 'mouth' mode matches and stretches."""
    max_stretch: float = 3.0
    """Cap on how far a component of the generated shape is stretched toward the actor's range."""
    shading_sigma_px: float = 8.0
    """'mouth' mode: the generated mouth's light below this blur replaces the neighbours' own."""
    switch_cost: float = 0.0
    """'path' mode: one real mouth per frame, chosen along the frames by a path search that pays
    this much (relative to the typical match distance) for a jump between mouths that were not
    consecutive in the footage, so teeth do not flicker. 'path' builds its bank as 'mouth' does.
    Measured in the benches only (BENCHMARKS.md): the render's batches would cut its path, and
    it trades 1 dB of the tight box for the truth's sharpness."""
    candidates: int = 16
    """'path' mode: the nearest mouths each frame's path may pass through."""
    range_components: int = 0
    """'mouth' and 'path' modes: the leading shape components (opening first) whose spread over
    the speaking frames of what is rendered is set to the actor's own over their speaking
    frames, in place of ``stretch``. The generator's order of open and closed frames is kept;
    its range, which a pixel loss shrinks (more so in another voice), becomes the actor's."""
    open_anchor: bool = False
    """'mouth' and 'path' modes: stretch the generated shape along the actor's own opening direction
    (the shape direction that best predicts their tracked lip aperture, else their speaking mouths'
    mean less their silent mouths'), anchored at the closed mouth, so that
    the speaking frames of what is rendered open as far as the actor's do on average while a mouth
    the generator closes stays the actor's closed mouth. The anchor comes from the actor's own
    footage, once, not from what is rendered: a short or mostly silent track cannot move it."""


def _distances(query: torch.Tensor, bank: torch.Tensor) -> torch.Tensor:
    """Euclidean distances computed row by row the same way whatever the batch: the matrix-product
    shortcut cdist takes for larger batches rounds differently, and a render must not depend on
    how its frames were batched."""
    return torch.cdist(query, bank, compute_mode="donot_use_mm_for_euclid_dist")


def gaussian_blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur with reflected borders, (B, C, H, W)."""
    radius = max(1, int(round(3 * sigma)))
    x = torch.arange(-radius, radius + 1, dtype=images.dtype, device=images.device)
    kernel = torch.exp(-(x ** 2) / (2 * sigma ** 2))
    kernel = kernel / kernel.sum()
    c = images.shape[1]
    padded = F.pad(images, (radius, radius, radius, radius), mode="reflect")
    out = F.conv2d(padded, kernel.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    return F.conv2d(out, kernel.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)


def match_features(lips: torch.Tensor, mask: torch.Tensor, sigma: float, width: int) -> torch.Tensor:
    """The low-frequency mouth inside the lip mask, small and flat: what neighbours are chosen by."""
    low = gaussian_blur(lips, sigma) * mask
    height = max(4, round(width * lips.shape[-2] / lips.shape[-1]))
    return F.interpolate(low, size=(height, width), mode="area").flatten(1)


@dataclasses.dataclass
class DetailBank:
    """Registered real mouths of the actor: their match features and their detail layers."""

    features: torch.Tensor
    """(N, D) low-frequency mouths, as ``match_features`` makes them."""
    detail: torch.Tensor
    """(N, 3, h, w) float16: each mouth minus its own blur."""
    config: DetailConfig
    mouths: torch.Tensor | None = None
    """'mouth' mode: (N, 3, h, w) float16, the whole real mouths."""
    mean: torch.Tensor | None = None
    basis: torch.Tensor | None = None
    """'mouth' mode: the real mouths' principal shape components, (D,) and (D, K)."""
    frame_ids: torch.Tensor | None = None
    """'path' mode: each mouth's frame in the footage, so consecutive ones can follow each other."""
    stretch: torch.Tensor | None = None
    """'mouth' mode: (K,) how much wider each component ranges in the real mouths than in the
    generated ones of the same frames (the generator's average mouth moves too little)."""
    speaking_mean: torch.Tensor | None = None
    speaking_std: torch.Tensor | None = None
    """``range_components``: the real mouths' shape components over their speaking frames."""
    open_direction: torch.Tensor | None = None
    """``open_anchor``: (K,) unit direction in shape space from the actor's closed to open mouths."""
    open_levels: tuple[float, float, float] | None = None
    """``open_anchor``: along ``open_direction``, the generated silent mean, the real silent mean and
    the real speaking mean, all over the actor's own frames."""

    @classmethod
    def build(cls, lips: torch.Tensor, mask: torch.Tensor, config: DetailConfig = DetailConfig(),
              generated: torch.Tensor | None = None, chunk: int = 256,
              frame_ids: torch.Tensor | None = None, speaking: torch.Tensor | None = None,
              apertures: torch.Tensor | None = None) -> DetailBank:
        """``lips``: (N, 3, h, w) true canonical mouths in [0, 1]; ``mask``: (1, 1, h, w) the lip mask.

        ``generated``: the model's mouths for the same frames, which 'mouth' mode calibrates its
        shape range against.
        """
        features, detail = [], []
        for start in range(0, len(lips), chunk):
            part = lips[start:start + chunk].float()
            features.append(match_features(part, mask, config.sigma_px, config.match_px))
            detail.append((part - gaussian_blur(part, config.sigma_px)).half())
        bank = cls(torch.cat(features), torch.cat(detail), config, frame_ids=frame_ids)
        if config.mode in ("mouth", "path") and len(lips) > config.components:
            bank.mouths = lips.half()
            bank.mean = bank.features.mean(0)
            _, _, v = torch.linalg.svd(bank.features - bank.mean, full_matrices=False)
            bank.basis = v[:config.components].T
            real = (bank.features - bank.mean) @ bank.basis
            if generated is not None and len(generated) > 1:
                # In chunks, as the real mouths: blurred whole, 4000 generated mouths held several
                # float copies at once and made the render's peak grow with the actor's footage.
                fake = (torch.cat([match_features(generated[start:start + chunk].float(), mask, config.sigma_px,
                                                  config.match_px) for start in range(0, len(generated), chunk)])
                        - bank.mean) @ bank.basis
                bank.stretch = (real.std(0) / fake.std(0).clamp(min=1e-6)).clamp(1.0, config.max_stretch)
            else:
                bank.stretch = torch.ones(config.components)
            bank.features = real
            if config.range_components and speaking is not None and int(speaking.sum()) > 1:
                spoken = real[speaking.bool(), :config.range_components]
                bank.speaking_mean, bank.speaking_std = spoken.mean(0), spoken.std(0)
            if config.open_anchor and speaking is not None and generated is not None and len(generated) > 1:
                talks = speaking.bool()
                if 1 < int(talks.sum()) < len(talks) - 1:
                    if apertures is not None:
                        # The shape direction that best predicts how far the lips part: the speaking
                        # mouths' mean less the silent ones' also moves with light, teeth and tongue.
                        target = (apertures.float() - apertures.float().mean())[:, None]
                        direction = torch.linalg.lstsq(real - real.mean(0), target).solution[:, 0]
                    else:
                        direction = real[talks].mean(0) - real[~talks].mean(0)
                    direction = direction / direction.norm().clamp(min=1e-8)
                    bank.open_direction = direction
                    bank.open_levels = (float(((fake[~talks] * bank.stretch) @ direction).mean()),
                                        float((real[~talks] @ direction).mean()),
                                        float((real[talks] @ direction).mean()))
        return bank

    def transfer(self, generated: torch.Tensor, mask: torch.Tensor, speaking: torch.Tensor | None = None) -> torch.Tensor:
        """``generated`` mouths (B, 3, h, w) with the detail of their nearest real mouths.

        ``speaking``: (B,) which frames speak, for ``range_components``.
        """
        config = self.config
        if config.strength <= 0 or len(self.features) == 0:
            return generated
        query = match_features(generated, mask, config.sigma_px, config.match_px)
        if self.mouths is not None and config.mode == "path":
            return self._path_mouths(generated, query, speaking)
        if self.mouths is not None:
            return self._whole_mouths(generated, query, speaking)
        index, weights = self._nearest(query)
        borrowed = (self.detail[index].to(generated) * weights[:, :, None, None, None]).sum(1)
        return (gaussian_blur(generated, config.sigma_px) + config.strength * borrowed).clamp(0, 1)

    def _nearest(self, query: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The bank rows nearest each query row and their weights, softer the further they lie
        beyond the nearest one."""
        distance = _distances(query, self.features.to(query))
        nearest, index = distance.topk(min(self.config.neighbours, len(self.features)), largest=False)
        scale = nearest[:, :1].clamp(min=1e-6) * self.config.temperature
        return index, torch.softmax(-(nearest - nearest[:, :1]) / scale, dim=1)

    def _shape(self, query: torch.Tensor, speaking: torch.Tensor | None = None) -> torch.Tensor:
        """The generated mouth in the real mouths' principal components, stretched to their range."""
        # Row by row, not a matrix product: its rounding depends on how many frames a batch holds,
        # and a render must not change with its batch size.
        centred, basis = query - self.mean.to(query), self.basis.to(query)
        shape = torch.stack([(centred * column).sum(1) for column in basis.T], dim=1)
        count = self.config.range_components
        if count and self.speaking_mean is not None and speaking is not None and int(speaking.sum()) > 1:
            return match_range(shape, speaking.bool(), self.speaking_mean.to(shape), self.speaking_std.to(shape),
                               self.config.max_stretch)
        shape = shape * self.stretch.to(query)
        if self.open_direction is not None and speaking is not None and int(speaking.sum()) > 1:
            shape = open_to_actor(shape, speaking.bool(), self.open_direction.to(shape), *self.open_levels,
                                  max_scale=self.config.max_stretch)
        return shape

    def _relit(self, generated: torch.Tensor, mouths: torch.Tensor) -> torch.Tensor:
        """Real ``mouths`` in place of the generated ones. They were lit as the footage was; the
        generated mouth is lit as this frame is, so its light below the shading blur is kept."""
        sigma = self.config.shading_sigma_px
        blended = (mouths + gaussian_blur(generated, sigma) - gaussian_blur(mouths, sigma)).clamp(0, 1)
        return generated + self.config.strength * (blended - generated)

    def _path_mouths(self, generated: torch.Tensor, query: torch.Tensor,
                     speaking: torch.Tensor | None = None) -> torch.Tensor:
        config = self.config
        shape = self._shape(query, speaking)
        frame_ids = self.frame_ids if self.frame_ids is not None else torch.arange(len(self.features))
        path = choose_path(shape, self.features.to(shape), frame_ids, config.candidates, config.switch_cost)
        return self._relit(generated, self.mouths[path].to(generated))

    def _whole_mouths(self, generated: torch.Tensor, query: torch.Tensor,
                      speaking: torch.Tensor | None = None) -> torch.Tensor:
        index, weights = self._nearest(self._shape(query, speaking))
        chosen = self.mouths[index].to(generated)
        return self._relit(generated, (chosen * weights[:, :, None, None, None]).sum(1))


def match_range(shape: torch.Tensor, speaking: torch.Tensor, target_mean: torch.Tensor,
                target_std: torch.Tensor, max_scale: float = math.inf) -> torch.Tensor:
    """``shape`` (T, K) with its leading ``len(target_mean)`` components moved and scaled so that
    over the ``speaking`` rows they have the target mean and spread; order and timing are kept,
    silent rows follow the same map, later components are left as they are.

    ``max_scale`` caps the scaling: a short track whose generated shape hardly moves would
    otherwise have its noise blown up into the actor's whole range."""
    count = len(target_mean)
    spoken = shape[speaking, :count]
    scale = (target_std / spoken.std(0).clamp(min=1e-6)).clamp(max=max_scale)
    matched = shape.clone()
    matched[:, :count] = (shape[:, :count] - spoken.mean(0)) * scale + target_mean
    return matched


def open_to_actor(shape: torch.Tensor, speaking: torch.Tensor, direction: torch.Tensor, closed_generated: float,
                  closed_real: float, speaking_real: float, max_scale: float = math.inf) -> torch.Tensor:
    """``shape`` (T, K) stretched along ``direction`` about the closed mouth: a row at the generator's
    closed level lands on the actor's closed level, and the ``speaking`` rows' mean on the actor's
    speaking level. Only the component along ``direction`` changes; the stretch is never a shrink and
    at most ``max_scale``, and the order of open and closed rows is kept. Rows whose speaking mean
    lies at or below the closed level are returned as they are."""
    along = shape @ direction
    opening = along[speaking].mean() - closed_generated
    if opening <= 0:
        return shape  # the speaking rows do not open past the closed mouth: there is no opening to widen
    scale = ((speaking_real - closed_real) / opening).clamp(1.0, max_scale)
    target = closed_real + (along - closed_generated) * scale
    return shape + (target - along)[:, None] * direction[None, :]


def choose_path(query: torch.Tensor, bank: torch.Tensor, frame_ids: torch.Tensor, candidates: int,
                switch_cost: float) -> torch.Tensor:
    """One bank row per query row (T, D), each near its query, along a path that jumps between
    rows that were not consecutive frames only when the match gains more than ``switch_cost``.

    Viterbi over each frame's ``candidates`` nearest rows. Costs are squared distances over the
    median nearest one, so ``switch_cost`` reads as "this many typical mismatches"; a jump also
    pays the two mouths' own distance, so a jump to a similar mouth costs less than to another.
    """
    distance = _distances(query, bank)
    nearest, index = distance.topk(min(candidates, len(bank)), largest=False)
    scale = nearest[:, 0].square().median().clamp(min=1e-8)
    unary = nearest.square() / scale
    if switch_cost <= 0 or len(query) == 1:
        return index[torch.arange(len(query)), unary.argmin(1)]
    total = unary[0].clone()
    back = []
    for t in range(1, len(query)):
        previous, current = index[t - 1], index[t]
        follows = frame_ids[current][None, :] == frame_ids[previous][:, None] + 1
        stays = current[None, :] == previous[:, None]
        jump = switch_cost + _distances(bank[previous], bank[current]).square() / scale
        step = torch.where(follows | stays, torch.zeros_like(jump), jump)
        options = total[:, None] + step
        total, came_from = options.min(0)
        total = total + unary[t]
        back.append(came_from)
    choice = [int(total.argmin())]
    for came_from in reversed(back):
        choice.append(int(came_from[choice[-1]]))
    choice.reverse()
    return index[torch.arange(len(query)), torch.tensor(choice)]


DEFAULT_DETAIL: DetailConfig | None = DetailConfig(mode="mouth", neighbours=4)
"""What renders, the main job, batch and eval use unless told otherwise: the 4 real mouths nearest
each generated one in shape, lit as the generated one. Against the 8 nearest mouths' detail on a
generated mouth (the default before), on both sample anchors it shows real teeth where the truth
does, lip edges at 0.86-0.93 of the truth's sharpness (0.76-0.83 before) and the truth's
frame-to-frame motion (the generated mouth was too still), and on 19 real dub tracks it opens
wider (speaking aperture −17 % and −11 % of the actor's, against −29 % and −14 %) and stays as
closed in silence; it scores 0.08 and 0.56 dB lower in the tight mouth box, where a real mouth a
little off costs more than a blur (BENCHMARKS.md, issue 22)."""

MAX_BANK_FRAMES = 4000
"""Mouths kept in the bank at most, evenly spread over the footage: memory stays flat (about
60 MB at the sample anchor's lip box) however many minutes an actor has."""


@torch.no_grad()
def build_bank(model, data, frames: torch.Tensor, config: DetailConfig = DetailConfig(),
               max_frames: int = MAX_BANK_FRAMES, batch_size: int = 64,
               apertures: torch.Tensor | None = None) -> DetailBank:
    """The true mouths of ``frames`` (training frames, never the ones being judged), registered
    into the canonical lip box with the model's own learned depth; mouths the warp does not
    fully cover (turned away, at the crop's edge) are left out.

    ``apertures``: every frame's tracked inner-lip aperture (indexed like ``data``), which
    ``open_anchor`` learns its opening direction from."""
    from ..train.data import canonical_lips

    if len(frames) > max_frames:
        frames = frames[torch.linspace(0, len(frames) - 1, max_frames).round().long()]
    depth = model.depth().detach()
    mask = data.lip_mask[None, None]
    lips, generated, kept = [], [], []
    for index in frames.split(batch_size):
        batch = data.batch(index)
        images, inside = canonical_lips(data, batch["crops"], index, depth, model.config.warp_interpolation)
        covered = (inside * mask).flatten(1).sum(1) / mask.sum() > 0.98
        lips.append(images[covered])
        kept.append(index[covered])
        if config.mode in ("mouth", "path"):
            generated.append(model.generate(data, batch, continuous=False)[covered])
    lips = torch.cat(lips) if lips else torch.zeros(0, 3, *mask.shape[-2:])
    frame_ids = torch.cat(kept) if kept else None
    speaking = data.speech[frame_ids] if frame_ids is not None else None
    return DetailBank.build(lips, mask, config, torch.cat(generated) if generated else None,
                            frame_ids=frame_ids, speaking=speaking,
                            apertures=apertures[frame_ids] if apertures is not None and frame_ids is not None
                            else None)

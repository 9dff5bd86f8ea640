"""The composed Speech2Lip model: generate canonical lips, map them into the frame, blend.

Losses follow paper Eq. 7-10: canonical lip reconstruction against the O2C-warped
ground truth, a photometric depth loss that trains the canonical depth map, the
contrastive sync loss against the frozen expert, and whole-image reconstruction
after Blend-Net. The perceptual term is SSIM: LPIPS needs torchvision weights we
cannot fetch offline, and the lip box (about 85x125 px) is too small for the five
scales of MS-SSIM.
"""

from __future__ import annotations

import dataclasses
import functools

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import S2LError
from ..train.data import TrainingData, canonical_lips
from .blend import BlendNet, black_hole_mask
from .detail import DetailBank
from .gamem import CanonicalDepth, invert, map_pixels, pixel_grid, sample
from .lips import LipGenerator, LipModelConfig
from .ssim import ssim
from .sync import SYNC_LIPS_HW, SyncExpert, contrastive_sync_loss


@dataclasses.dataclass(frozen=True)
class LossWeights:
    lip: float = 1.0
    depth: float = 0.5
    sync: float = 0.05
    image: float = 1.0
    ssim: float = 0.2
    """Weight of (1 - SSIM) beside L1 inside the lip and image losses."""


@dataclasses.dataclass(frozen=True)
class Speech2LipConfig:
    lips: LipModelConfig = LipModelConfig()
    blend_width: int = 24
    use_blend: bool = True
    continuous_sampling: bool = True
    use_sync_loss: bool = True
    black_hole_probability: float = 0.5
    blend_truth_share: float = 0.25
    """Training only: the share of Blend-Net's inputs pasted with the ground-truth canonical lips
    instead of the generated ones. With the 'window' reach it taught Blend-Net to leave right lips
    alone: trained on generated lips only, which are never quite right, it learnt to blur, and the
    truth's own lips came out of it 10 dB worse (anchor_en, BENCHMARKS.md). With the 'holes' reach
    it gives the holes Blend-Net learns to fill true lips around them. 0: models before it."""
    losses: LossWeights = LossWeights()
    canonical: bool = True
    """False gives the ablation baseline: lips regressed straight in each frame's mouth window, no GAMEM."""
    mixed_precision: bool = True
    """Run the networks' bodies in bf16 where the device has bf16 arithmetic (a GPU, or a CPU with
    AVX512-BF16 or AMX); geometry and losses stay fp32. Elsewhere bf16 is emulated and 10x slower."""
    blend_reach: str = "holes"
    """Where Blend-Net's residual acts: 'holes' (only the holes of pose-controlled synthesis and of
    black-hole training), or 'window' (everywhere, models trained before it). Over the lips and the
    feathered seam, where GAMEM's paste is already seamless, it can only pull lips that are not quite
    right towards their average: on anchor_en it blurred the lip contour (CPBD 0.0103 -> 0.0079) for
    0.003 dB of PSNR (BENCHMARKS.md)."""
    warp_interpolation: str = "bicubic"
    """How GAMEM resamples lips between views: 'bicubic', or 'bilinear' (models trained before it).
    Ground-truth lips taken through O2C and C2O keep CPBD 0.024 of the truth's 0.029 with bicubic
    and 0.015 with bilinear (anchor_en held-out windows)."""

    def __post_init__(self):
        if self.warp_interpolation not in WARP_INTERPOLATIONS:
            raise S2LError(f"unknown warp interpolation {self.warp_interpolation!r}; "
                           f"choose one of {', '.join(WARP_INTERPOLATIONS)}")
        if self.blend_reach not in BLEND_REACHES:
            raise S2LError(f"unknown Blend-Net reach {self.blend_reach!r}; choose one of {', '.join(BLEND_REACHES)}")


WARP_INTERPOLATIONS = ("bicubic", "bilinear")
BLEND_REACHES = ("holes", "window")


class Speech2Lip(nn.Module):
    def __init__(self, config: Speech2LipConfig, depth0: torch.Tensor):
        super().__init__()
        self.config = config
        self.generator = LipGenerator(config.lips)
        self.depth = CanonicalDepth(depth0)
        self.blend = BlendNet(config.blend_width)

    def _amp(self, device: torch.device):
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16,
                              enabled=self.config.mixed_precision and fast_bfloat16(device))

    def compose(self, data: TrainingData, batch: dict, lips: torch.Tensor, holes: bool = False,
                hole_mask: torch.Tensor | None = None):
        """C2O-warp canonical lips into each frame's mouth window and blend.

        ``holes`` punches random training holes; ``hole_mask`` (B, 1, h, w) marks real ones
        (forward-warping gaps in pose-controlled synthesis) for Blend-Net to fill.
        Returns (output, pasted, mask, target) windows, each (B, C, h, w).
        """
        crops = batch["crops"]
        b = crops.shape[0]
        win_h, win_w = data.window_hw
        lx, ly, lw, lh = data.lip_box
        origins = batch["window_origins"].float()
        grid = pixel_grid(0, 0, win_w, win_h)[None] + origins[:, None, None, :]
        depth = F.interpolate(batch["observed_depth"][:, None], size=crops.shape[-2:], mode="bilinear",
                              align_corners=True)
        d_obs = sample(depth, grid)[:, 0]
        inv_R, inv_t = invert(batch["R"], batch["t"])
        uv_c = map_pixels(grid, d_obs, batch["K"], data.K_canonical.expand(b, 3, 3), inv_R, inv_t)
        warped = sample(lips, uv_c, box=(lx, ly), mode=self.config.warp_interpolation).clamp(0, 1)
        mask = sample(data.lip_mask.expand(b, 1, lh, lw), uv_c, box=(lx, ly))
        return self._paste_and_blend(_mouth_windows(data, batch), warped, mask, holes, hole_mask)

    def _paste_and_blend(self, target, lips, mask, holes: bool, hole_mask: torch.Tensor | None = None):
        pasted = target * (1 - mask) + lips * mask
        if holes:
            punched = black_hole_mask(mask, self.config.black_hole_probability)
            hole_mask = punched if hole_mask is None else torch.maximum(hole_mask.to(punched), punched)
        if hole_mask is not None:
            # Real holes (pose control) are the black holes Blend-Net was trained to fill.
            hole_mask = hole_mask.to(mask)
            pasted = pasted * (1 - hole_mask)
        if not self.config.use_blend:
            return pasted, pasted, mask, target
        reach = None
        if self.config.blend_reach == "holes":
            if hole_mask is None or not bool(hole_mask.any()):
                return pasted, pasted, mask, target
            reach = hole_mask
        with self._amp(pasted.device):
            return self.blend(pasted, mask, reach).float(), pasted, mask, target

    def generate(self, data: TrainingData, batch: dict, continuous: bool) -> torch.Tensor:
        _, _, lw, lh = data.lip_box
        with self._amp(batch["crops"].device):
            return self.generator(batch["mel_context"], batch["time"], lh, lw, continuous=continuous).float()

    def sync_lips(self, mel_context: torch.Tensor, time_norm: torch.Tensor) -> torch.Tensor:
        """Canonical lips at the sync expert's resolution (B, 3, *SYNC_LIPS_HW)."""
        h, w = SYNC_LIPS_HW
        with self._amp(mel_context.device):
            return self.generator(mel_context, time_norm, h, w).float()

    def compose_direct(self, data: TrainingData, batch: dict, lips: torch.Tensor, holes: bool = False):
        """The no-canonicalisation baseline: lips already in the frame's mouth window, pasted with an ellipse."""
        win_h, win_w = data.window_hw
        target = _mouth_windows(data, batch)
        mask = _ellipse(win_h, win_w).expand(len(target), 1, win_h, win_w)
        return self._paste_and_blend(target, lips, mask, holes)

    def render_window(self, data: TrainingData, batch: dict, hole_mask: torch.Tensor | None = None,
                      detail: DetailBank | None = None) -> tuple[torch.Tensor, ...]:
        """Inference: (output, pasted, mask, target) mouth windows for a batch (see ``compose``).

        ``detail``: the actor's real mouths, whose detail replaces the generated mouth's own
        above the bank's cut-off (``model.detail``); the generated shape is kept.
        """
        if not self.config.canonical:
            win_h, win_w = data.window_hw
            with self._amp(batch["crops"].device):
                lips = self.generator(batch["mel_context"], batch["time"], win_h, win_w).float()
            return self.compose_direct(data, batch, lips)
        lips = self.generate(data, batch, continuous=False)
        if detail is not None:
            lips = detail.transfer(lips, data.lip_mask[None, None].to(lips), batch.get("speaking"))
        return self.compose(data, batch, lips, hole_mask=hole_mask)

    def losses(self, data: TrainingData, batch: dict, expert: SyncExpert | None = None) -> dict[str, torch.Tensor]:
        cfg = self.config
        w = cfg.losses
        if not cfg.canonical:
            return self._direct_losses(data, batch)
        depth = self.depth()
        gt_lips, inside = canonical_lips(data, batch["crops"], batch["index"], depth.detach(), cfg.warp_interpolation)
        lips = self.generate(data, batch, cfg.continuous_sampling).float()
        mask = data.lip_mask[None, None] * inside
        lip_loss = lip_reconstruction_loss(lips, gt_lips, mask, w.ssim)

        depth_loss = self._depth_loss(data, batch, depth)

        pasted_lips = lips
        if cfg.use_blend and cfg.blend_truth_share > 0:
            truth = torch.rand(len(lips), device=lips.device) < cfg.blend_truth_share
            pasted_lips = torch.where(truth[:, None, None, None], gt_lips, lips)
        output, _, paste_mask, target = self.compose(data, batch, pasted_lips, holes=cfg.use_blend)
        image_loss = F.l1_loss(output.float(), target) + w.ssim * (1 - ssim(output.float(), target))

        terms = {"lip": lip_loss, "depth": depth_loss, "image": image_loss}
        if expert is not None and cfg.use_sync_loss and w.sync > 0:
            terms["sync"] = self._sync_loss(data, batch, expert)
        total = w.lip * lip_loss + w.depth * depth_loss + w.image * image_loss
        if "sync" in terms:
            total = total + w.sync * terms["sync"]
        terms["total"] = total
        return terms

    def _direct_losses(self, data: TrainingData, batch: dict) -> dict[str, torch.Tensor]:
        w = self.config.losses
        win_h, win_w = data.window_hw
        with self._amp(batch["crops"].device):
            lips = self.generator(batch["mel_context"], batch["time"], win_h, win_w,
                                  continuous=self.config.continuous_sampling).float()
        output, _, mask, target = self.compose_direct(data, batch, lips, holes=self.config.use_blend)
        lip_loss = (torch.abs(lips - target) * mask).sum() / (3 * mask.sum()).clamp(min=1)
        image_loss = F.l1_loss(output, target) + w.ssim * (1 - ssim(output, target))
        total = w.lip * lip_loss + w.image * image_loss
        return {"lip": lip_loss, "image": image_loss, "total": total}

    def _depth_loss(self, data: TrainingData, batch: dict, depth: torch.Tensor) -> torch.Tensor:
        """Photometric loss that trains the canonical depth (paper Eq. 9).

        Each observed frame, warped into the canonical view through the learnable depth,
        must match the canonical frame where the face is rigid: everywhere in the lower
        face except around the mouth, which changes with speech.
        """
        crops = batch["crops"]
        b, _, size, _ = crops.shape
        step = 2  # every other pixel is plenty for a smooth depth map and halves the cost
        grid = pixel_grid(0, 0, size, size)[::step, ::step][None].expand(b, -1, -1, -1)
        d = depth[::step, ::step][None].expand(b, -1, -1)
        uv = map_pixels(grid, d, data.K_canonical.expand(b, 3, 3), batch["K"], batch["R"], batch["t"])
        seen = sample(crops, uv)
        inside = (sample(torch.ones_like(crops[:, :1]), uv) > 0.999).float()
        canonical = data.canonical_crop()[:, :, ::step, ::step]
        lx, ly, lw, lh = data.lip_box
        rigid = torch.ones_like(inside)
        pad_x, pad_y = lw // 4, lh // 3
        rigid[..., max(0, (ly - pad_y) // step):(ly + lh + pad_y) // step + 1,
              max(0, (lx - pad_x) // step):(lx + lw + pad_x) // step + 1] = 0
        weight = inside * rigid
        return (torch.abs(seen - canonical) * weight).sum() / (3 * weight.sum()).clamp(min=1)

    def _sync_loss(self, data: TrainingData, batch: dict, expert: SyncExpert) -> torch.Tensor:
        """Contrastive sync loss on low-resolution lips for each frame's 5-frame window."""
        index = batch["index"]
        offsets = torch.arange(-2, 3)
        window = (index[:, None] + offsets[None]).clamp(0, len(data.mel) - 1)
        ctx = data.context_index[window]
        lips = self.sync_lips(data.mel[ctx].flatten(0, 1), data.time_norm[window].flatten())
        lips = lips.reshape(len(index), len(offsets), *lips.shape[1:])
        return contrastive_sync_loss(expert.embed_audio(batch["mel"]), expert.embed_lips(lips))


@functools.lru_cache(maxsize=None)
def _cpu_bfloat16() -> bool:
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def fast_bfloat16(device: torch.device) -> bool:
    """Whether bfloat16 autocast speeds this device up: on a GPU, or a CPU with bf16 instructions.

    Without them (AVX2-only CPUs: most laptops and CI machines) PyTorch emulates bfloat16, and a
    training step of the sample anchor took 11.2 s instead of 1.1 s in float32 (BENCHMARKS.md).
    """
    if device.type == "cuda":
        return True
    return device.type == "cpu" and _cpu_bfloat16()


def lip_reconstruction_loss(lips: torch.Tensor, target: torch.Tensor, mask: torch.Tensor,
                            ssim_weight: float) -> torch.Tensor:
    """Canonical lip loss (paper Eq. 7): masked L1 plus ``ssim_weight`` x (1 - SSIM); ``mask`` (B, 1, h, w)."""
    l1 = (torch.abs(lips - target) * mask).sum() / (3 * mask.sum()).clamp(min=1)
    return l1 + ssim_weight * (1 - ssim(lips * mask, target * mask))


def _ellipse(height: int, width: int) -> torch.Tensor:
    ys = (torch.arange(height) + 0.5) / height * 2 - 1
    xs = (torch.arange(width) + 0.5) / width * 2 - 1
    r = torch.sqrt(ys[:, None] ** 2 + xs[None, :] ** 2)
    return ((1 - r) / 0.25).clamp(0, 1)[None, None]


def _mouth_windows(data: TrainingData, batch: dict) -> torch.Tensor:
    """Each frame's mouth window cut from its observed crop, (B, 3, h, w)."""
    win_h, win_w = data.window_hw
    crops = batch["crops"]
    return torch.stack([crops[i, :, y:y + win_h, x:x + win_w] for i, (x, y) in enumerate(batch["window_origins"].tolist())])

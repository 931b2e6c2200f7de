"""Score images with one model: the single path shared by training, evaluation and the app."""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from core.data.augment import hflip
from core.data.preprocess import PreprocessConfig, preprocess
from core.models.networks import FractureNet

ProgressFn = Callable[[int, int], None]


def logit_margin(logits: torch.Tensor) -> torch.Tensor:
    """Log-odds of 'fractured' from 2-class logits."""
    return logits[:, 1] - logits[:, 0]


@torch.no_grad()
def score_images(net: FractureNet, grays: Sequence[np.ndarray], cfg: PreprocessConfig,
                 tta: bool = True, batch: int = 4, progress: ProgressFn | None = None) -> np.ndarray:
    """Uncalibrated log-odds per image, averaged over the plain and (with tta) mirrored view."""
    net.eval()
    out = []
    for start in range(0, len(grays), batch):
        chunk = grays[start:start + batch]
        views = [chunk] + ([[hflip(g) for g in chunk]] if tta else [])
        dev = next(net.parameters()).device
        margins = [logit_margin(net(_tensor(v, cfg).to(dev))) for v in views]
        out.append(torch.stack(margins).mean(0).float().cpu().numpy())
        if progress is not None:
            progress(min(start + batch, len(grays)), len(grays))
    return np.concatenate(out) if out else np.zeros(0)


def _tensor(grays: Sequence[np.ndarray], cfg: PreprocessConfig) -> torch.Tensor:
    x = torch.from_numpy(np.stack([preprocess(g, cfg)[0] for g in grays]))
    return x.contiguous(memory_format=torch.channels_last)

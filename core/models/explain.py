"""Heat maps of where a model looked (pytorch-grad-cam), mapped back onto the original image."""
from __future__ import annotations

import threading
from collections.abc import Callable

import cv2
import numpy as np
import torch
from pytorch_grad_cam import EigenCAM, GradCAM, GradCAMPlusPlus
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

from core.data.preprocess import PreprocessConfig, preprocess, unletterbox
from core.models.networks import FractureNet

FRACTURED = 1
CAM_METHODS: dict[str, Callable] = {"Grad-CAM": GradCAM, "Grad-CAM++": GradCAMPlusPlus, "EigenCAM": EigenCAM}
_LOCKS: dict[int, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def _lock_for(net: torch.nn.Module) -> threading.Lock:
    """One lock per network: CAM hooks live on the shared module, so calls must not overlap."""
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(id(net), threading.Lock())


def cam_on_input(net: FractureNet, layer: torch.nn.Module, x: torch.Tensor, method: str) -> np.ndarray:
    """CAM (S, S) in [0, 1] over the model input for the 'fractured' logit."""
    if method not in CAM_METHODS:
        raise ValueError(f"unknown CAM method {method!r}; choose from {sorted(CAM_METHODS)}")
    with _lock_for(net), CAM_METHODS[method](model=net, target_layers=[layer]) as cam:
        heat = cam(input_tensor=x, targets=[ClassifierOutputTarget(FRACTURED)])
    return np.nan_to_num(heat[0].astype(np.float32))


def heatmap(net: FractureNet, layer: torch.nn.Module, gray: np.ndarray, cfg: PreprocessConfig,
            method: str = "Grad-CAM") -> np.ndarray:
    """CAM on the original image grid (H, W), values in [0, 1]."""
    x, box = preprocess(gray, cfg)
    heat = cam_on_input(net, layer, torch.from_numpy(x)[None], method)
    return np.clip(unletterbox(heat, box, gray.shape[:2]), 0.0, 1.0)


def overlay(gray: np.ndarray, heat: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """RGB uint8 picture: the radiograph with a JET-coloured heat map blended on top."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
    if heat.shape != gray.shape[:2]:
        raise ValueError(f"heat map shape {heat.shape} does not match image shape {gray.shape[:2]}")
    colour = cv2.applyColorMap(np.uint8(np.clip(heat, 0, 1) * 255), cv2.COLORMAP_JET)[:, :, ::-1]
    base = np.repeat(gray[:, :, None], 3, axis=2).astype(np.float32)
    return np.clip(base * (1 - alpha) + colour.astype(np.float32) * alpha, 0, 255).astype(np.uint8)


def resize_map(heat: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A heat map resized to (H, W)."""
    return cv2.resize(heat.astype(np.float32), (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)


def peak(heat: np.ndarray) -> tuple[int, int]:
    """(x, y) of the heat map's maximum."""
    y, x = np.unravel_index(int(np.argmax(heat)), heat.shape)
    return int(x), int(y)

"""Every registry model: builds, gives 2 logits, and yields a CAM of the right shape and range."""
from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from core.models.explain import CAM_METHODS, heatmap, overlay, peak
from core.models.registry import REGISTRY, create_model, get_spec, list_models

TINY = {"inception_v3": 107}  # the smallest input InceptionV3 accepts; others use 64 px


@pytest.fixture(scope="module", params=list_models())
def built(request):
    spec = get_spec(request.param)
    torch.manual_seed(0)
    return spec, create_model(spec.name).eval()


def test_forward_gives_two_logits(built):
    spec, net = built
    size = TINY.get(spec.name, 64)
    with torch.no_grad():
        out = net(torch.randn(2, 3, size, size))
        assert out.shape == (2, 2) and torch.isfinite(out).all()
        z = net.stem(torch.randn(1, 3, size, size))
        assert torch.allclose(net.forward_from_stem(z), net.head(net.body(z)))


def test_cam_shape_and_range(built):
    spec, net = built
    gray = (np.random.default_rng(0).random((90, 70)) * 255).astype(np.uint8)
    cfg = spec.preprocess_config(size=TINY.get(spec.name, 64))
    heat = heatmap(net, spec.target_layer(net), gray, cfg, "Grad-CAM")
    assert heat.shape == gray.shape and heat.dtype == np.float32
    assert heat.min() >= 0.0 and heat.max() <= 1.0


def test_spec_drives_preprocessing():
    spec = get_spec("vgg16")
    cfg = spec.preprocess_config(canny="blend")
    assert cfg.size == spec.input_size and cfg.mean == spec.mean and cfg.canny == "blend"


def test_unknown_model_names_the_choices():
    with pytest.raises(ValueError, match="unknown model 'resnet9000'.*custom_cnn"):
        create_model("resnet9000")
    with pytest.raises(ValueError, match="init file not found"):
        create_model("custom_cnn", init="/nonexistent.safetensors")


def test_default_inits_exist_where_declared():
    for spec in REGISTRY.values():
        if spec.default_init and spec.default_init_path() is None:
            pytest.skip(f"../shared/pretrained not present ({spec.default_init})")
        if spec.default_init:
            net = create_model(spec.name, init=spec.default_init_path())
            assert sum(p.numel() for p in net.parameters()) > 0


@pytest.mark.parametrize("method", sorted(CAM_METHODS))
def test_every_cam_method_on_a_real_xray(method, xray_gray):
    spec = get_spec("custom_cnn")
    torch.manual_seed(0)
    net = create_model(spec.name).eval()
    heat = heatmap(net, spec.target_layer(net), xray_gray, spec.preprocess_config(size=96), method)
    assert heat.shape == xray_gray.shape and np.isfinite(heat).all()
    rgb = overlay(xray_gray, heat, 0.5)
    assert rgb.shape == xray_gray.shape + (3,) and rgb.dtype == np.uint8
    x, y = peak(heat)
    assert heat[y, x] == heat.max()


def test_concurrent_cams_equal_sequential(xray_gray):
    spec = get_spec("custom_cnn")
    torch.manual_seed(1)
    net = create_model(spec.name).eval()
    cfg, layer = spec.preprocess_config(size=96), spec.target_layer(net)
    images = [xray_gray, np.ascontiguousarray(xray_gray[::-1]), np.ascontiguousarray(xray_gray.T)]
    sequential = [heatmap(net, layer, g, cfg) for g in images]
    results: dict[int, np.ndarray] = {}

    def work(i: int) -> None:
        results[i] = heatmap(net, layer, images[i % 3], cfg)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in range(6):
        np.testing.assert_allclose(results[i], sequential[i % 3], atol=1e-5)
    assert not net._forward_hooks and not layer._forward_hooks  # hooks released


def test_overlay_rejects_bad_alpha(xray_gray):
    with pytest.raises(ValueError, match="alpha"):
        overlay(xray_gray, np.zeros(xray_gray.shape, np.float32), 1.5)

"""One registry: model name → factory, input size, normalisation, CAM layer, starting weights."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from torch import nn

from core.data.preprocess import PreprocessConfig
from core.models import networks as models
from core.models.networks import FractureNet
from core.settings import pretrained_dir

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
HALF = (0.5, 0.5, 0.5)


@dataclass(frozen=True)
class ModelSpec:
    """The frozen description of one architecture; it also drives preprocessing."""

    name: str
    factory: Callable[[Path | None, bool], FractureNet]
    input_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    default_init: str | None
    description: str
    cam_layer: str = "body.-1"

    def preprocess_config(self, **overrides: object) -> PreprocessConfig:
        """The model's preprocessing, with optional overrides (e.g. canny='blend')."""
        base = PreprocessConfig(size=self.input_size, mean=self.mean, std=self.std)
        return base.with_(**overrides) if overrides else base

    def target_layer(self, net: FractureNet) -> nn.Module:
        """Resolve `cam_layer` (dotted attributes, integers index) on a built network."""
        module: nn.Module = net
        for part in self.cam_layer.split("."):
            module = module[int(part)] if part.lstrip("-").isdigit() else getattr(module, part)
        return module

    def default_init_path(self) -> Path | None:
        """The local ImageNet file this model starts from, if it exists here."""
        if self.default_init is None:
            return None
        path = pretrained_dir() / self.default_init
        return path if path.is_file() else None


def _scratch(builder: Callable[[], FractureNet]) -> Callable[[Path | None, bool], FractureNet]:
    def factory(init: Path | None, pretrained: bool) -> FractureNet:
        if pretrained:
            raise ValueError("this architecture has no published pretrained weights")
        net = builder()
        if init is not None:
            models.load_init(net, init)
        return net
    return factory


_SPECS = [
    ModelSpec("custom_cnn", _scratch(models.custom_cnn), 288, HALF, HALF, None,
              "Small CNN: 4 conv blocks + batch norm + max-pooling, GAP, dropout; from scratch."),
    ModelSpec("deepconvnet", _scratch(models.deepconvnet), 288, HALF, HALF, None,
              "Deeper plain CNN: 5 stages × 2 convs; from scratch."),
    ModelSpec("resnet50", models.resnet50, 288, IMAGENET_MEAN, IMAGENET_STD, None,
              "ResNet50 (torchvision); no ImageNet start exists here, so from scratch."),
    ModelSpec("inception_v3", models.inception_v3, 299, HALF, HALF,
              "inception_v3_nsfwjs_torchvision.fp16.safetensors",
              "InceptionV3 (torchvision); weak start: ImageNet to Mixed_6a, an unrelated photo task to Mixed_6e."),
    ModelSpec("mobilenet_v2", partial(models.timm_mobile, "mobilenetv2_100", pad_type="same"),
              288, HALF, HALF, "mobilenetv2_100_samepad.fp16.safetensors",
              "MobileNetV2 1.0 (timm, TF 'same' padding); ImageNet start."),
    ModelSpec("vgg16", models.vgg16, 288, IMAGENET_MEAN, IMAGENET_STD,
              "vgg16_features_torchvision.fp16.safetensors",
              "VGG16 convolutions (torchvision) + GAP head; ImageNet start."),
    ModelSpec("efficientnet_lite0", partial(models.timm_mobile, "tf_efficientnet_lite0"),
              288, HALF, HALF, "tf_efficientnet_lite0.fp16.safetensors",
              "EfficientNet-Lite0 (timm); ImageNet start."),
]
REGISTRY: dict[str, ModelSpec] = {s.name: s for s in _SPECS}


def get_spec(name: str) -> ModelSpec:
    """Look a model up by name; ValueError names the unknown one and the choices."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; choose from {sorted(REGISTRY)}") from None


def create_model(name: str, init: str | Path | None = None, pretrained: bool = False) -> FractureNet:
    """Build a registry model: from `init` (a local file), a hub (`pretrained=True`), or scratch."""
    spec = get_spec(name)
    path = Path(init) if init is not None else None
    if path is not None and not path.is_file():
        raise ValueError(f"init file not found: {path}")
    return spec.factory(path, pretrained)


def list_models() -> list[str]:
    """Registry names in a stable order."""
    return list(REGISTRY)

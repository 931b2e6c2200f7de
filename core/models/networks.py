"""Network bodies: every model is a FractureNet = frozen-able stem → trainable body → 2-logit head."""
from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import nn

log = logging.getLogger(__name__)


class FractureNet(nn.Module):
    """stem (may be frozen and cached) → body (trained) → pooled 2-logit head."""

    def __init__(self, stem: nn.Module, body: nn.Module, features: int, dropout: float = 0.3):
        super().__init__()
        self.stem = stem
        self.body = body
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout),
                                  nn.Linear(features, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (N, 2): index 1 is 'fractured'."""
        return self.head(self.body(self.stem(x)))

    def forward_from_stem(self, z: torch.Tensor) -> torch.Tensor:
        """Logits from cached stem activations."""
        return self.head(self.body(z))

    def freeze_stem(self) -> None:
        """Stop gradients in the stem and keep its batch-norm statistics fixed."""
        for p in self.stem.parameters():
            p.requires_grad_(False)
        self.stem.eval()


def conv_bn(cin: int, cout: int, k: int = 3, stride: int = 1) -> nn.Sequential:
    """Conv → BatchNorm → ReLU."""
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, k // 2, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


def custom_cnn() -> FractureNet:
    """A small CNN: strided stem conv, 4 conv blocks with batch norm and max-pooling, GAP, dropout."""
    widths = [32, 32, 64, 128, 256]
    blocks = [conv_bn(3, widths[0], 5, 2)]
    for cin, cout in zip(widths[:-1], widths[1:]):
        blocks.append(nn.Sequential(conv_bn(cin, cout), nn.MaxPool2d(2)))
    return FractureNet(nn.Identity(), nn.Sequential(*blocks), widths[-1], dropout=0.4)


def deepconvnet() -> FractureNet:
    """A deeper plain CNN: five stages of two 3×3 convs each, widths 24…384."""
    widths = [24, 48, 96, 192, 384]
    layers: list[nn.Module] = [conv_bn(3, widths[0], 3, 2)]
    cin = widths[0]
    for i, w in enumerate(widths):
        layers += [conv_bn(cin, w), conv_bn(w, w)]
        if i < len(widths) - 1:
            layers.append(nn.MaxPool2d(2))
        cin = w
    return FractureNet(nn.Identity(), nn.Sequential(*layers), widths[-1], dropout=0.4)


def load_init(module: nn.Module, path: Path, drop_prefixes: tuple[str, ...] = ()) -> None:
    """Load float16/32 safetensors starting weights, strictly, after dropping old head keys."""
    from safetensors.torch import load_file

    state = {k: v.float() for k, v in load_file(str(path)).items()
             if not k.startswith(drop_prefixes)}
    missing, unexpected = module.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.startswith(drop_prefixes)]
    if missing or unexpected:
        raise ValueError(f"init file {path.name} does not fit: missing={missing[:5]} "
                         f"unexpected={unexpected[:5]}")
    log.info("loaded starting weights from %s", path)


def timm_mobile(arch: str, init: Path | None, pretrained: bool, **kwargs: object) -> FractureNet:
    """timm EfficientNet/MobileNetV2 family split after block 3 (stride 16)."""
    import timm

    net = timm.create_model(arch, pretrained=pretrained, **kwargs)
    if init is not None:
        load_init(net, init, ("classifier.",))
    stem = nn.Sequential(net.conv_stem, net.bn1, *net.blocks[:4])
    body = nn.Sequential(*net.blocks[4:], net.conv_head, net.bn2)
    return FractureNet(stem, body, net.num_features, dropout=0.3)


def resnet50(init: Path | None, pretrained: bool) -> FractureNet:
    """torchvision ResNet50 split after layer2."""
    from torchvision.models import ResNet50_Weights
    from torchvision.models import resnet50 as tv_resnet50

    net = tv_resnet50(weights=ResNet50_Weights.DEFAULT if pretrained else None)
    if init is not None:
        load_init(net, init, ("fc.",))
    stem = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool, net.layer1, net.layer2)
    return FractureNet(stem, nn.Sequential(net.layer3, net.layer4), 2048, dropout=0.3)


def inception_v3(init: Path | None, pretrained: bool) -> FractureNet:
    """torchvision InceptionV3 (no aux head) split after Mixed_6e (only Mixed_7a–7c train)."""
    from torchvision.models import Inception_V3_Weights
    from torchvision.models import inception_v3 as tv_inception

    if pretrained:
        net = tv_inception(weights=Inception_V3_Weights.DEFAULT)
        net.aux_logits, net.AuxLogits = False, None
    else:
        net = tv_inception(weights=None, aux_logits=False, init_weights=init is None)
    if init is not None:
        load_init(net, init, ("fc.", "AuxLogits."))
    stem = nn.Sequential(net.Conv2d_1a_3x3, net.Conv2d_2a_3x3, net.Conv2d_2b_3x3, net.maxpool1,
                         net.Conv2d_3b_1x1, net.Conv2d_4a_3x3, net.maxpool2,
                         net.Mixed_5b, net.Mixed_5c, net.Mixed_5d, net.Mixed_6a,
                         net.Mixed_6b, net.Mixed_6c, net.Mixed_6d, net.Mixed_6e)
    body = nn.Sequential(net.Mixed_7a, net.Mixed_7b, net.Mixed_7c)
    return FractureNet(stem, body, 2048, dropout=0.3)


def vgg16(init: Path | None, pretrained: bool) -> FractureNet:
    """torchvision VGG16 convolutions split after block 4 (only block 5 trains); GAP head, no fc6–fc8."""
    from torchvision.models import VGG16_Weights
    from torchvision.models import vgg16 as tv_vgg16

    features = tv_vgg16(weights=VGG16_Weights.DEFAULT if pretrained else None).features
    if init is not None:
        load_init(features, init)
    return FractureNet(features[:24], features[24:30], 512, dropout=0.3)

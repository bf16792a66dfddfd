"""ResNet backbones for images, written from scratch, registered with :mod:`zincfluor.nn.model`.

* ``resnet32`` (and the other ``6n+2`` depths through :class:`CifarResNetConfig`): the CIFAR
  ResNet of He et al. 2016 as used by LDAM-DRW and most long-tail CIFAR papers: a 3x3 conv with
  16 channels, three stages of ``n`` basic blocks (16/32/64 channels, stride 1/2/2), global
  average pooling; 64 output features. Shortcuts that change shape use **option A** (stride-2
  subsampling plus zero-padding of the new channels: no parameters), so ResNet-32 with a
  10-class linear head has about 0.46 M parameters.
* ``resnet18`` / ``resnet34`` / ``resnet50``: the ImageNet layout (7x7 stride-2 stem + max-pool,
  four stages of basic or bottleneck blocks, 1x1 conv + BN projection shortcuts), with the same
  parameter names as torchvision so that a torchvision state dict loads. ``stem="cifar"``
  swaps the stem for a 3x3 stride-1 conv without max-pool (for 32x32 inputs). ``weights`` is an
  optional local file (a state dict, or a dict with ``state_dict``/``model``); ``fc.*`` entries
  and a leading ``module.``/``backbone.`` are ignored.

Every backbone returns pooled features ``[B, out_dim]``; the classifier head sits outside.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from zincfluor.nn.model import register_backbone

__all__ = [
    "CifarResNet",
    "CifarResNetConfig",
    "ResNet",
    "ResNetConfig",
    "ResNet18Config",
    "ResNet34Config",
    "ResNet50Config",
    "BACKBONE_NAMES",
]


def _init_conv_bn(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


# --------------------------------------------------------------------------- CIFAR ResNet


@dataclass
class CifarResNetConfig:
    """``depth`` = 6n + 2 (20, 32, 44, 56, 110); ``width`` = channels of the first stage."""

    depth: int = 32
    width: int = 16

    def to_dict(self) -> dict:
        return asdict(self)


class _OptionABlock(nn.Module):
    """Basic block whose shape-changing shortcut subsamples and zero-pads (option A)."""

    def __init__(self, in_planes: int, planes: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.stride = stride
        self.pad = planes - in_planes

    def shortcut(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride != 1:
            x = x[:, :, :: self.stride, :: self.stride]
        if self.pad:
            x = F.pad(x, (0, 0, 0, 0, self.pad // 2, self.pad - self.pad // 2))
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    """CIFAR ResNet (option-A shortcuts); ``out_dim`` = 4 * width (64 for ResNet-32)."""

    def __init__(self, config: CifarResNetConfig):
        super().__init__()
        if config.depth < 8 or (config.depth - 2) % 6:
            raise ValueError(f"a CIFAR ResNet's depth is 6n + 2 (20, 32, ...), got {config.depth}")
        self.config = config
        n, w = (config.depth - 2) // 6, config.width
        self.conv1 = nn.Conv2d(3, w, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(w)
        stages, in_planes = [], w
        for planes, stride in ((w, 1), (2 * w, 2), (4 * w, 2)):
            blocks = []
            for i in range(n):
                blocks.append(_OptionABlock(in_planes, planes, stride if i == 0 else 1))
                in_planes = planes
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = stages
        self.out_dim = in_planes
        _init_conv_bn(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        return torch.flatten(F.adaptive_avg_pool2d(out, 1), 1)


# --------------------------------------------------------------------------- ImageNet ResNet


@dataclass
class ResNetConfig:
    """``depth`` 18, 34 or 50; ``stem`` "imagenet" or "cifar"; ``weights`` a local file."""

    depth: int = 18
    stem: str = "imagenet"
    weights: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class ResNet18Config(ResNetConfig):
    depth: int = 18


@dataclass
class ResNet34Config(ResNetConfig):
    depth: int = 34


@dataclass
class ResNet50Config(ResNetConfig):
    depth: int = 50


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int, downsample: nn.Module | None):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + identity)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, in_planes: int, planes: int, stride: int, downsample: nn.Module | None):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        return F.relu(self.bn3(self.conv3(out)) + identity)


_LAYOUTS: dict[int, tuple[type[nn.Module], tuple[int, int, int, int]]] = {
    18: (BasicBlock, (2, 2, 2, 2)),
    34: (BasicBlock, (3, 4, 6, 3)),
    50: (Bottleneck, (3, 4, 6, 3)),
}


class ResNet(nn.Module):
    """ResNet-18/34/50 backbone (torchvision parameter names, no ``fc``)."""

    def __init__(self, config: ResNetConfig):
        super().__init__()
        if config.depth not in _LAYOUTS:
            raise ValueError(f"ResNet depth must be one of 18, 34, 50, got {config.depth}")
        if config.stem not in ("imagenet", "cifar"):
            raise ValueError(f"stem must be imagenet or cifar, got {config.stem!r}")
        self.config = config
        block, counts = _LAYOUTS[config.depth]
        if config.stem == "imagenet":
            self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
            self.maxpool: nn.Module = nn.MaxPool2d(3, 2, 1)
        else:
            self.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
            self.maxpool = nn.Identity()
        self.bn1 = nn.BatchNorm2d(64)
        in_planes = 64
        for index, (planes, n) in enumerate(zip((64, 128, 256, 512), counts, strict=True)):
            stride = 1 if index == 0 else 2
            blocks = []
            for i in range(n):
                s = stride if i == 0 else 1
                downsample = None
                if s != 1 or in_planes != planes * block.expansion:
                    downsample = nn.Sequential(
                        nn.Conv2d(in_planes, planes * block.expansion, 1, s, bias=False),
                        nn.BatchNorm2d(planes * block.expansion),
                    )
                blocks.append(block(in_planes, planes, s, downsample))
                in_planes = planes * block.expansion
            setattr(self, f"layer{index + 1}", nn.Sequential(*blocks))
        self.out_dim = in_planes
        _init_conv_bn(self)
        if config.weights:
            self.load_weights(config.weights)

    def load_weights(self, path: str) -> None:
        """Load a local state dict (torchvision names); the classifier ``fc`` is skipped."""
        state = torch.load(path, map_location="cpu", weights_only=True)
        if isinstance(state, dict):
            for key in ("state_dict", "model"):
                if isinstance(state.get(key), dict):
                    state = state[key]
                    break
        cleaned = {}
        for key, value in state.items():
            for prefix in ("module.", "backbone."):
                key = key.removeprefix(prefix)
            if not key.startswith("fc."):
                cleaned[key] = value
        self.load_state_dict(cleaned, strict=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.maxpool(F.relu(self.bn1(self.conv1(x))))
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        return torch.flatten(F.adaptive_avg_pool2d(out, 1), 1)


BACKBONE_NAMES = ("resnet32", "resnet18", "resnet34", "resnet50")

register_backbone("resnet32", CifarResNet, CifarResNetConfig)
register_backbone("resnet18", ResNet, ResNet18Config)
register_backbone("resnet34", ResNet, ResNet34Config)
register_backbone("resnet50", ResNet, ResNet50Config)

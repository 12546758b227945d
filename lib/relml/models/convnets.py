"""The CIFAR convolutional networks of the papers' experiments: ResNet-18 and VGG-16 (with BN).

Both follow the usual CIFAR variants (3×3 stem, no max-pool for ResNet; VGG's five conv stages and one
linear classifier), with a `width` multiplier on every channel count for width studies such as the
random-pruning paper's. Kaiming-normal init for conv/linear kernels, BN at weight 1 and bias 0.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

VGG16_CONFIG = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")


def _init(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def _check(num_classes: int, width: float) -> None:
    if num_classes < 2 or width <= 0:
        raise ValueError(f"need num_classes >= 2 and width > 0, got {num_classes} and {width}")


class BasicBlock(nn.Module):
    """Two 3×3 convolutions with BN and a (projected when needed) identity shortcut."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Sequential()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False),
                                          nn.BatchNorm2d(c_out))

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class ResNet18(nn.Module):
    """ResNet-18 for 32×32 inputs: x (batch, 3, 32, 32) → logits (batch, num_classes)."""

    def __init__(self, num_classes: int = 10, width: float = 1.0) -> None:
        super().__init__()
        _check(num_classes, width)
        c = [max(1, round(64 * width * 2**i)) for i in range(4)]
        self.stem = nn.Sequential(nn.Conv2d(3, c[0], 3, 1, 1, bias=False), nn.BatchNorm2d(c[0]), nn.ReLU())
        blocks, c_in = [], c[0]
        for i, c_out in enumerate(c):
            for j in range(2):
                blocks.append(BasicBlock(c_in, c_out, 2 if (i > 0 and j == 0) else 1))
                c_in = c_out
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(c_in, num_classes)
        _init(self)

    def forward(self, x: Tensor) -> Tensor:
        h = self.blocks(self.stem(x))
        return self.fc(F.adaptive_avg_pool2d(h, 1).flatten(1))


class VGG16(nn.Module):
    """VGG-16 with batch norm for 32×32 inputs: x (batch, 3, 32, 32) → logits (batch, num_classes)."""

    def __init__(self, num_classes: int = 10, width: float = 1.0) -> None:
        super().__init__()
        _check(num_classes, width)
        layers: list[nn.Module] = []
        c_in = 3
        for v in VGG16_CONFIG:
            if v == "M":
                layers.append(nn.MaxPool2d(2))
                continue
            c_out = max(1, round(int(v) * width))
            layers += [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]
            c_in = c_out
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(c_in, num_classes)
        _init(self)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.features(x).flatten(1))


def conv_net(name: str, num_classes: int = 10, width: float = 1.0) -> nn.Module:
    """'resnet18' or 'vgg16'."""
    models = {"resnet18": ResNet18, "vgg16": VGG16}
    if name not in models:
        raise ValueError(f"unknown model {name!r}; use one of {', '.join(models)}")
    return models[name](num_classes, width)

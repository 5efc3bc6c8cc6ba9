"""CNet1-4 / CCNet1-4: the MLTP paper's VGG-style nets (CNetK and CCNetK are the same architecture, the paper's names
for its CIFAR-10 and CIFAR-100 instances)."""
from __future__ import annotations

import torch
from torch import nn

from .registry import register_model

# ---------------------------------------------------------------------------- CNet
# Conv(c, 3): 3x3 conv, c filters, 'same' padding, ReLU; "M": 2x2 max-pool; Fc(m) + ReLU.
CNET_SPECS: dict[str, tuple[list[int | str], list[int]]] = {
    "cnet1": ([256, "M"], [512]),
    "cnet2": ([128, 128, "M"], [256]),
    "cnet3": ([128, 128, "M"], [256, 256]),
    "cnet4": ([128, 128, "M", 256, 256, "M", 512, 512, "M"], [1024]),
}


class CNet(nn.Module):
    """VGG-style nets of the MLTP paper, Xavier-initialised (biases zero)."""

    def __init__(self, convs, fcs, num_classes: int, in_channels: int, image_size: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c, size = in_channels, image_size
        for v in convs:
            if v == "M":
                layers.append(nn.MaxPool2d(2))
                size //= 2
            else:
                layers += [nn.Conv2d(c, int(v), 3, padding=1), nn.ReLU(inplace=True)]
                c = int(v)
        if size < 1:
            raise ValueError(f"input size {image_size} too small for this network")
        self.features = nn.Sequential(*layers)
        head: list[nn.Module] = [nn.Flatten()]
        d = c * size * size
        for m in fcs:
            head += [nn.Linear(d, m), nn.ReLU(inplace=True)]
            d = m
        head.append(nn.Linear(d, num_classes))  # softmax lives in the cross-entropy loss
        self.classifier = nn.Sequential(*head)
        for mod in self.modules():
            if isinstance(mod, (nn.Conv2d, nn.Linear)):
                nn.init.xavier_uniform_(mod.weight)
                nn.init.zeros_(mod.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def _cnet(spec: str):
    def build(num_classes: int, in_channels: int, image_size: int) -> nn.Module:
        convs, fcs = CNET_SPECS[spec]
        return CNet(convs, fcs, num_classes, in_channels, image_size)

    return build


for _k in range(1, 5):
    register_model(f"cnet{_k}")(_cnet(f"cnet{_k}"))
    register_model(f"ccnet{_k}")(_cnet(f"cnet{_k}"))

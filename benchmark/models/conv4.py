"""Conv-4: the few-shot suite's four-block backbone (max-pooled, or strided as MAML's and Reptile's Omniglot nets)."""
from __future__ import annotations

from torch import nn

from .registry import Backbone, register_model


# -------------------------------------------------------------------------- Conv-4
class Conv4(Backbone):
    """Four blocks of 3x3 conv (``width`` filters), batch norm, ReLU, 2x2 max-pool; linear head.
    ``strided``: stride-2 convolutions instead of max-pooling (MAML's and Reptile's Omniglot
    blocks: cbfinn/maml ``utils.conv_block``, openai/supervised-reptile ``OmniglotModel``). The
    features are the flattened last map (2x2x64 = 256 on 28x28 Omniglot), as Reptile's network
    does; MAML's averages that map to 64 features (cbfinn/maml ``maml.py``), a declared deviation.

    ``embed(x)`` gives the flattened features (ProtoNet, nearest neighbour, transfer).
    """

    def __init__(self, num_classes: int, in_channels: int, image_size: int, width: int = 64, strided: bool = False) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        c = in_channels
        size = image_size
        for _ in range(4):
            blocks += [
                nn.Conv2d(c, width, 3, padding=1, stride=2 if strided else 1),
                nn.BatchNorm2d(width, track_running_stats=False),
                nn.ReLU(inplace=True),
            ] + ([] if strided else [nn.MaxPool2d(2)])
            c, size = width, (size + 1) // 2 if strided else size // 2
        self.features = nn.Sequential(*blocks, nn.Flatten())
        self.feature_dim = width * max(size, 1) ** 2
        self.head = nn.Linear(self.feature_dim, num_classes)


register_model("conv4-64")(lambda num_classes, in_channels, image_size: Conv4(num_classes, in_channels, image_size, 64))
register_model("conv4-32")(lambda num_classes, in_channels, image_size: Conv4(num_classes, in_channels, image_size, 32))
register_model("conv4-64-strided")(lambda num_classes, in_channels, image_size: Conv4(num_classes, in_channels, image_size, 64, True))

"""ResNet-18/34 of the standard suite (torchvision's, without the first max-pool, Kaiming-initialised)."""
from __future__ import annotations

from torch import nn

from .registry import register_model


# -------------------------------------------------------------------------- ResNet
def _resnet(depth: int):
    def build(num_classes: int, in_channels: int, image_size: int) -> nn.Module:
        from torchvision.models import resnet18, resnet34

        model = (resnet18 if depth == 18 else resnet34)(weights=None, num_classes=num_classes)
        if in_channels != 3:
            model.conv1 = nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False)
        model.maxpool = nn.Identity()  # the paper removes the first max-pool for 64x64 inputs
        # Kaiming initialisation (He et al. 2015) for every conv and the classifier.
        for mod in model.modules():
            if isinstance(mod, nn.Conv2d):
                nn.init.kaiming_normal_(mod.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(mod, nn.Linear):
                nn.init.kaiming_normal_(mod.weight, nonlinearity="relu")
                nn.init.zeros_(mod.bias)
        return model

    return build


register_model("resnet18")(_resnet(18))
register_model("resnet34")(_resnet(34))

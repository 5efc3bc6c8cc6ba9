"""Model zoo: CNet1-4 / CCNet1-4 (MLTP paper), ResNet-18/34 without the first max-pool,
and Conv-4 (few-shot backbone). ``create_model(name, num_classes, in_channels, image_size)``.

Classes and input size always follow the dataset; CNetK and CCNetK are the same
architecture (the paper's names for its CIFAR-10 and CIFAR-100 instances).
"""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

_MODELS: dict[str, Callable[..., nn.Module]] = {}


class UnknownModelError(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


def register_model(name: str):
    def deco(fn):
        _MODELS[name] = fn
        return fn

    return deco


def list_models() -> list[str]:
    return sorted(_MODELS)


def create_model(name: str, num_classes: int, in_channels: int = 3, image_size: int = 32) -> nn.Module:
    try:
        builder = _MODELS[name]
    except KeyError:
        raise UnknownModelError(f"unknown model {name!r}; valid: {', '.join(list_models())}") from None
    return builder(num_classes=num_classes, in_channels=in_channels, image_size=image_size)


def set_batchnorm(model: nn.Module, mode: str) -> nn.Module:
    """Batch norm at evaluation (the few-shot suite's ``--bn-eval``), in place.

    ``transductive`` (or ""): the model as built; Conv-4 keeps no running statistics, so
    a batch is normalised with its own statistics in training and evaluation alike
    (MAML's convention: the query set's statistics are shared across its queries).
    ``inductive``: every batch-norm layer keeps running statistics during (meta-)training
    and uses them in evaluation mode, so each query is classified on its own.
    """
    if mode in ("", "transductive"):
        return model
    if mode != "inductive":
        raise ValueError(f"unknown batch-norm mode {mode!r}; valid: transductive, inductive")
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and not m.track_running_stats:
            ref = m.weight if m.weight is not None else torch.zeros(())
            m.track_running_stats = True
            m.register_buffer("running_mean", torch.zeros(m.num_features, device=ref.device, dtype=ref.dtype))
            m.register_buffer("running_var", torch.ones(m.num_features, device=ref.device, dtype=ref.dtype))
            m.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long, device=ref.device))
    return model


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


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


# -------------------------------------------------------------------------- Conv-4
class Conv4(nn.Module):
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

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


register_model("conv4-64")(lambda num_classes, in_channels, image_size: Conv4(num_classes, in_channels, image_size, 64))
register_model("conv4-32")(lambda num_classes, in_channels, image_size: Conv4(num_classes, in_channels, image_size, 32))
register_model("conv4-64-strided")(lambda num_classes, in_channels, image_size: Conv4(num_classes, in_channels, image_size, 64, True))

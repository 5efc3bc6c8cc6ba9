"""Model shapes and parameter counts, against counts worked out from the paper's definitions."""
import pytest
import torch
from torch import nn

from benchmark.models import UnknownModelError, count_parameters, create_model, list_models


def conv(cin, cout):
    return cin * cout * 9 + cout


def fc(din, dout):
    return din * dout + dout


EXPECTED = {  # CIFAR: 3x32x32 input, 10 classes
    "cnet1": conv(3, 256) + fc(256 * 16 * 16, 512) + fc(512, 10),
    "cnet2": conv(3, 128) + conv(128, 128) + fc(128 * 16 * 16, 256) + fc(256, 10),
    "cnet3": conv(3, 128) + conv(128, 128) + fc(128 * 16 * 16, 256) + fc(256, 256) + fc(256, 10),
    "cnet4": conv(3, 128) + conv(128, 128) + conv(128, 256) + conv(256, 256) + conv(256, 512) + conv(512, 512)
    + fc(512 * 4 * 4, 1024) + fc(1024, 10),
}


@pytest.mark.parametrize("name", list(EXPECTED))
def test_cnet_parameter_counts_and_shapes(name):
    m = create_model(name, 10, 3, 32)
    assert count_parameters(m) == EXPECTED[name]
    assert m(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    cc = create_model("c" + name, 100, 3, 32)
    assert cc(torch.zeros(2, 3, 32, 32)).shape == (2, 100)
    assert count_parameters(cc) == EXPECTED[name] + fc(list(cc.modules())[-1].in_features, 100) - fc(list(m.modules())[-1].in_features, 10)


def test_cnet_xavier_init_and_zero_bias():
    m = create_model("cnet2", 10, 3, 32)
    fc1 = m.classifier[1]
    bound = (6 / (fc1.in_features + fc1.out_features)) ** 0.5
    assert fc1.weight.abs().max() <= bound
    assert fc1.weight.abs().max() > 0.9 * bound
    assert all(torch.all(mod.bias == 0) for mod in m.modules() if isinstance(mod, (nn.Conv2d, nn.Linear)))


def test_cnet_follows_the_dataset_input():
    m = create_model("cnet4", 10, 1, 8)
    assert m(torch.zeros(3, 1, 8, 8)).shape == (3, 10)


@pytest.mark.parametrize("name,base", [("resnet18", 11_689_512), ("resnet34", 21_797_672)])
def test_resnet_without_first_maxpool(name, base):
    m = create_model(name, 200, 3, 64)
    assert isinstance(m.maxpool, nn.Identity)
    # torchvision's ImageNet counts minus the 1000-way head plus a 200-way one
    assert count_parameters(m) == base - fc(512, 1000) + fc(512, 200)
    m.eval()
    x = torch.zeros(2, 3, 64, 64)
    assert m(x).shape == (2, 200)
    feats = nn.Sequential(m.conv1, m.bn1, m.relu, m.maxpool, m.layer1)(x)
    assert feats.shape[-1] == 32  # only the stride-2 stem conv: no max-pool halving


def test_conv4_shapes():
    m = create_model("conv4-64", 5, 1, 28)
    assert m(torch.zeros(4, 1, 28, 28)).shape == (4, 5)
    assert m.embed(torch.zeros(4, 1, 28, 28)).shape == (4, 64)
    m32 = create_model("conv4-32", 5, 3, 84)
    assert m32.embed(torch.zeros(2, 3, 84, 84)).shape == (2, 32 * 5 * 5)


def test_unknown_model_lists_valid():
    with pytest.raises(UnknownModelError, match="valid: .*cnet1"):
        create_model("vgg99", 10)
    assert "resnet18" in list_models()

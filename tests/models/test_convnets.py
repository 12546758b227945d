import pytest
import torch

from relml.models.convnets import ResNet18, conv_net


@pytest.mark.parametrize("name, convs", [("resnet18", 1 + 8 * 2 + 3), ("vgg16", 13)])
def test_cifar_nets_map_images_to_logits(name, convs):
    net = conv_net(name, num_classes=7, width=0.125)
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, 7)
    n_conv = sum(isinstance(m, torch.nn.Conv2d) for m in net.modules())
    assert n_conv == convs  # ResNet: stem, two per block, three projection shortcuts


def test_width_multiplies_channels_and_bad_input_raises():
    assert ResNet18(10, width=0.5).fc.in_features == 256
    with pytest.raises(ValueError, match="unknown model"):
        conv_net("resnet50")
    with pytest.raises(ValueError, match="width"):
        ResNet18(10, width=0)

"""Models shared by the notebooks."""

from relml.models.convnets import VGG16, ResNet18, conv_net
from relml.models.mlp import MLP, EnsembleMLP, MemberAccuracy

__all__ = ["MLP", "VGG16", "EnsembleMLP", "MemberAccuracy", "ResNet18", "conv_net"]

"""Models shared by the notebooks."""

from relml.models.mlp import MLP, EnsembleMLP, MemberAccuracy

__all__ = ["MLP", "EnsembleMLP", "MemberAccuracy"]

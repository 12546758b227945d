"""Learning under noise, shift and rotation: mixtures of experts, merging, smooth games, confounding."""

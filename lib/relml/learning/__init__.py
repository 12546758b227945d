"""Learning under noise, shift and rotation: mixtures of experts, model merging, smooth games, confounded shift."""

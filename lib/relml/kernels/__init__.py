"""Hand-written GPU kernels (Triton), each with a pure-torch reference it is tested against."""

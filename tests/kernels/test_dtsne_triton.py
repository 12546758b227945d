"""The Triton repulsion kernel equals its torch reference, on the CPU through TRITON_INTERPRET=1.

Triton fixes interpreter mode when it is first imported, so the comparison runs in this process
if nothing imported Triton yet (the kernel module imports it lazily), else in a fresh one.
"""

import importlib.util
import os
import subprocess
import sys
import textwrap

import pytest
import torch

from relml.kernels import dtsne_triton as K

pytestmark = pytest.mark.skipif(importlib.util.find_spec("triton") is None, reason="triton not installed")

CHECK = textwrap.dedent("""
    import torch
    from relml.kernels import dtsne_triton as K
    g = torch.Generator().manual_seed(0)
    n = 70  # not a multiple of the blocks: masked tails on both axes
    y, u = torch.randn(n, 2, generator=g) * 4, 1 + 3 * torch.rand(n, generator=g)
    for alpha, src in ((1.0, None), (0.5, torch.randperm(n, generator=g)[:37])):
        z0, f0 = K.density_repulsion_torch(y.double(), u.double(), alpha, src)
        z1, f1 = K.density_repulsion_triton(y, u, alpha, src, block_i=32, block_j=16)
        torch.testing.assert_close(z1.double(), z0, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(f1.double(), f0, rtol=1e-5, atol=1e-6)
    print("ok")
""")


def test_triton_kernel_matches_torch_reference(monkeypatch):
    if "triton" not in sys.modules:
        monkeypatch.setenv("TRITON_INTERPRET", "1")
        assert K.triton_available("cpu")
        exec(CHECK, {})
        return
    env = dict(os.environ, TRITON_INTERPRET="1")
    out = subprocess.run([sys.executable, "-c", CHECK], env=env, capture_output=True, text=True, check=False)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]


def test_symmetric_all_pairs_path_equals_the_reference():
    g = torch.Generator().manual_seed(2)
    y = torch.randn(301, 3, generator=g, dtype=torch.float64)
    u = 1 + torch.rand(301, generator=g, dtype=torch.float64)
    z0, f0 = K.density_repulsion_torch(y, u, 0.7)
    z1, f1 = K.density_repulsion_symmetric(y, u, 0.7, chunk_pairs=5000)  # many blocks, ragged last one
    torch.testing.assert_close(z1, z0)
    torch.testing.assert_close(f1, f0)


def test_dispatcher_uses_torch_on_cpu_and_checks_its_arguments():
    y, u = torch.randn(10, 2, dtype=torch.float64), torch.ones(10, dtype=torch.float64)
    torch.testing.assert_close(K.density_repulsion(y, u, backend="torch"), K.density_repulsion_torch(y, u))
    with pytest.raises(ValueError, match="backend"):
        K.density_repulsion(y, u, backend="cuda")
    with pytest.raises(ValueError, match="2-D"):
        K.density_repulsion_triton(torch.randn(10, 3), torch.ones(10))

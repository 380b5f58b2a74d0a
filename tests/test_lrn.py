"""models.blocks.LocalResponseNorm: torch's LRN, computed faster, equal in value and gradient."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from googlenet import create_model
from googlenet.models.blocks import LocalResponseNorm


@pytest.mark.parametrize("size", [1, 2, 4, 5])
@pytest.mark.parametrize("shape", [(2, 7, 5, 6), (3, 6, 9), (2, 5, 3, 4, 4)])
def test_equals_torch_in_value_and_gradient(size, shape):
    torch.manual_seed(size)
    x = (torch.randn(*shape) * 40).requires_grad_(True)  # large: the denominator is far from k
    ours, theirs = LocalResponseNorm(size, alpha=1e-2, beta=0.75, k=2.0), nn.LocalResponseNorm(size, 1e-2, 0.75, 2.0)
    y, y_ref = ours(x), theirs(x)
    assert float((y_ref - x).detach().abs().max()) > 1  # the normalization does something at this scale
    torch.testing.assert_close(y, y_ref, rtol=1e-5, atol=1e-5)
    weights = torch.randn_like(y)
    (grad,) = torch.autograd.grad((y * weights).sum(), x)
    (grad_ref,) = torch.autograd.grad((y_ref * weights).sum(), x)
    torch.testing.assert_close(grad, grad_ref, rtol=1e-4, atol=1e-5)


def test_models_use_it_and_keep_their_outputs():
    """The paper-exact GoogLeNet and AlexNet build it (an nn.LocalResponseNorm, so tables and diagrams still
    name it LRN), and their outputs equal those with torch's LRN swapped back in."""
    torch.manual_seed(0)
    for name in ("googlenet", "alexnet"):
        model = create_model(name, num_classes=5).eval()
        lrns = [m for m in model.modules() if isinstance(m, nn.LocalResponseNorm)]
        assert len(lrns) == 2 and all(type(m) is LocalResponseNorm for m in lrns)
        x = torch.randn(1, 3, 224, 224)
        with torch.no_grad():
            y = model(x)
            for m in lrns:
                m.__class__ = nn.LocalResponseNorm
            torch.testing.assert_close(model(x), y, rtol=1e-5, atol=1e-5)

"""What the design choices save, measured: the 1x1 bottleneck (GoogLeNet section 4) and v3's factorizations
(Rethinking..., section 3), each against the layer it replaces."""


from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from ..errors import UserError

# Containers that are only plumbing: the summary looks inside them instead of giving them a row.

def measure_macs(module: nn.Module, input_shape: Sequence[int]) -> int:
    """Multiply-adds of one forward pass of ``module`` on one input of ``input_shape`` (C, H, W)."""
    with torch.no_grad(), FlopCounterMode(display=False) as counter, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # padding="same" with a 2x2 kernel warns about a padded copy
        module(torch.zeros(1, *input_shape))
    return counter.get_total_flops() // 2


def _conv(cin: int, cout: int, kernel: int | tuple[int, int]) -> nn.Conv2d:
    k = kernel if isinstance(kernel, tuple) else (kernel, kernel)
    return nn.Conv2d(cin, cout, k, padding="same", bias=False)


@dataclass
class CostComparison:
    name: str
    source: str
    grid: int
    baseline: str
    baseline_macs: int
    alternative: str
    alternative_parts: list[tuple[str, int]]
    paper_saving: str

    @property
    def alternative_macs(self) -> int:
        return sum(m for _, m in self.alternative_parts)

    @property
    def saving(self) -> float:
        """Fraction of the baseline's multiply-adds the alternative saves."""
        return 1.0 - self.alternative_macs / self.baseline_macs

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(alternative_macs=self.alternative_macs, saving=self.saving)
        return data


def bottleneck_cost(in_channels: int = 480, out_channels: int = 48, reduce: int = 16, grid: int = 14) -> CostComparison:
    """GoogLeNet section 4: a 5x5 conv straight from ``in_channels`` vs a 1x1 reduction to ``reduce`` first.

    The defaults are inception 4a's 5x5 branch on 3b's 480-channel 14x14 output: 112.9M vs 1.5M + 3.8M.
    """
    for value, what in ((in_channels, "in"), (out_channels, "out"), (reduce, "reduce"), (grid, "size")):
        if value < 1:
            raise UserError(f"--{what} must be a positive integer, got {value}")
    shape = (in_channels, grid, grid)
    return CostComparison(
        name="bottleneck",
        source="GoogLeNet section 4 (1x1 convolutions as dimension reduction)",
        grid=grid,
        baseline=f"5x5 conv {in_channels}->{out_channels}",
        baseline_macs=measure_macs(_conv(in_channels, out_channels, 5), shape),
        alternative=f"1x1 conv {in_channels}->{reduce}, then 5x5 conv {reduce}->{out_channels}",
        alternative_parts=[
            (f"1x1 {in_channels}->{reduce}", measure_macs(_conv(in_channels, reduce, 1), shape)),
            (f"5x5 {reduce}->{out_channels}", measure_macs(_conv(reduce, out_channels, 5), (reduce, grid, grid))),
        ],
        paper_saving="112.9M vs 1.5M + 3.8M = 5.3M",
    )


def factorization_costs(channels: int = 64, grid: int = 35) -> list[CostComparison]:
    """Rethinking the Inception Architecture, sections 3.1-3.2: the factorized convolutions' savings.

    Each compares equal input, output and intermediate widths, so the saving is a ratio of kernel
    areas: 2x(3x3)/5x5 = 18/25 (28% fewer), (1x3 + 3x1)/3x3 = 6/9 (33%), 2x(2x2)/3x3 = 8/9 (11%).
    """
    shape = (channels, grid, grid)
    c = channels

    def parts(*kernels: tuple[int, int]) -> list[tuple[str, int]]:
        return [(f"{k[0]}x{k[1]} {c}->{c}", measure_macs(_conv(c, c, k), shape)) for k in kernels]

    return [
        CostComparison("5x5 -> two 3x3", "Rethinking..., section 3.1, Figure 1", grid,
                       f"5x5 conv {c}->{c}", measure_macs(_conv(c, c, 5), shape),
                       "3x3 then 3x3", parts((3, 3), (3, 3)), "28% fewer"),
        CostComparison("3x3 -> 1x3 + 3x1", "Rethinking..., section 3.2, Figure 3", grid,
                       f"3x3 conv {c}->{c}", measure_macs(_conv(c, c, 3), shape),
                       "1x3 then 3x1", parts((1, 3), (3, 1)), "33% fewer"),
        CostComparison("3x3 -> two 2x2", "Rethinking..., section 3.2", grid,
                       f"3x3 conv {c}->{c}", measure_macs(_conv(c, c, 3), shape),
                       "2x2 then 2x2", parts((2, 2), (2, 2)), "11% fewer"),
    ]


def cost_comparisons(**bottleneck: int) -> list[CostComparison]:
    return [bottleneck_cost(**bottleneck), *factorization_costs()]

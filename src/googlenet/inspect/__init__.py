"""Looking at a model's numbers: the per-layer summary, Table 1 beside the paper's print, the cost of
the design choices, and the zoo compared.
"""

from .tables import LayerRow, ModelSummary, summary, table1

__all__ = ["LayerRow", "ModelSummary", "summary", "table1"]

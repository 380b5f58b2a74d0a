"""The training loss of every model, GoogLeNet's auxiliary heads included (section 5)."""

from __future__ import annotations

from typing import NamedTuple

import torch.nn.functional as F
from torch import Tensor

from ..models.outputs import split_outputs


class Loss(NamedTuple):
    total: Tensor  # what is back-propagated
    main: Tensor  # cross-entropy of the main classifier
    aux: list[Tensor]  # cross-entropy of each auxiliary classifier (none without aux heads)
    logits: Tensor  # the main classifier's logits


def training_loss(outputs: Tensor | tuple, targets: Tensor, *, aux_weight: float = 0.3,
                  label_smoothing: float = 0.0) -> Loss:
    """Cross-entropy on the main logits plus ``aux_weight`` times each auxiliary head's. Section 5:
    "their loss gets added to the total loss of the network with a discount weight (the losses of the
    auxiliary classifiers were weighted by 0.3)". Computed in fp32, also under autocast."""
    logits, aux_logits = split_outputs(outputs)
    main = F.cross_entropy(logits.float(), targets, label_smoothing=label_smoothing)
    aux = [F.cross_entropy(a.float(), targets, label_smoothing=label_smoothing) for a in aux_logits]
    total = main + aux_weight * sum(aux) if aux else main
    return Loss(total, main, aux, logits)

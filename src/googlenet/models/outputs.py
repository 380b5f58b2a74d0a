"""What the models return: the logits, and in training mode the auxiliary classifiers' logits too."""

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor


class GoogLeNetOutputs(NamedTuple):
    """What a GoogLeNet returns in training mode with its auxiliary classifiers (section 5)."""

    main: Tensor
    aux1: Tensor
    aux2: Tensor

class InceptionOutputs(NamedTuple):
    """What Inception-v3 returns in training mode with its auxiliary classifier (Rethinking..., section 4)."""

    main: Tensor
    aux: Tensor

def split_outputs(outputs: Tensor | tuple) -> tuple[Tensor, list[Tensor]]:
    """Main logits and the list of auxiliary logits, for any model of the registry.

    Models with auxiliary heads return a NamedTuple whose first field is ``main`` in training mode;
    every other model returns a plain tensor.
    """
    if isinstance(outputs, Tensor):
        return outputs, []
    main, *aux = outputs
    return main, [a for a in aux if a is not None]

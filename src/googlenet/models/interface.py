"""The interface every model of the registry has, as timm users expect it.

``forward(x) == forward_head(forward_features(x))`` in eval mode, and:

* ``forward_features(x)`` -- the last feature map, before global pooling (N, C, H, W): what CAM reads
  (Zhou et al. 2016) and what a new head is put on.
* ``forward_head(features, pre_logits=False)`` -- pooling, dropout and the classifier; with
  ``pre_logits=True`` the pooled features the classifier would see.
* ``get_classifier()`` -- the final layer (a Linear; a 1x1 convolution in SqueezeNet and NiN).
* ``reset_classifier(num_classes)`` -- a fresh final layer for ``num_classes`` classes, the auxiliary
  classifiers' too (fine-tuning on a new dataset); ``reset_classifier(0)`` removes them (``nn.Identity``),
  so that ``forward`` returns the pooled features, ``(N, num_features)``, as in timm.
* ``num_features`` -- the width of those pooled features: what the final layer reads.

A family declares where its classifiers live (``classifier_path`` and ``aux_classifier_paths``) and
writes the two forwards; the rest comes from :class:`ImageClassifier`.
"""

from __future__ import annotations

from torch import Tensor, nn

from .blocks import check_classifier_args


class ImageClassifier(nn.Module):
    """Base class of every registry model: the timm interface on top of ``nn.Module``."""

    #: Dotted path of the final classifier layer.
    classifier_path: str = "fc"
    #: Dotted paths of the auxiliary classifiers' final layers (GoogLeNet section 5, Inception-v3).
    aux_classifier_paths: tuple[str, ...] = ()
    #: What trained weights expect of their input (a :class:`googlenet.data.preprocessing.PretrainedCfg`) and
    #: the names of their classes; set by ``googlenet.create_model(name, pretrained=...)`` and ``load_model``.
    pretrained_cfg = None
    class_names: list[str] | None = None

    def forward_features(self, x: Tensor) -> Tensor:  # pragma: no cover - every family overrides it
        raise NotImplementedError

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:  # pragma: no cover
        raise NotImplementedError

    def forward(self, x: Tensor):
        return self.forward_head(self.forward_features(x))

    def get_classifier(self) -> nn.Module:
        return self.get_submodule(self.classifier_path)

    @property
    def num_classes(self) -> int:
        layer = self.get_classifier()
        if isinstance(layer, nn.Identity):  # reset_classifier(0)
            return 0
        return layer.out_features if hasattr(layer, "out_features") else layer.out_channels

    @property
    def num_features(self) -> int:
        """Channels of the pooled features the final layer reads (``forward_head(x, pre_logits=True)``)."""
        removed = self.__dict__.get("_removed_classifiers")
        layer = removed[self.classifier_path] if removed else self.get_classifier()
        return layer_inputs(layer)

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the final layer (and each auxiliary head's) by a freshly initialised one with
        ``num_classes`` outputs; everything before it keeps its weights. ``0``: no final layers, ``forward``
        returns the pooled features (timm's ``reset_classifier(0)``)."""
        if num_classes != 0:
            check_classifier_args(num_classes)
        # The layers removed by reset_classifier(0), kept out of the module tree (no parameters, no state_dict
        # keys) so that a later reset_classifier(n) builds layers of the same kind and width again.
        removed = self.__dict__.setdefault("_removed_classifiers", {})
        for path, current in self.classifier_layers().items():
            old = removed.get(path, current) if isinstance(current, nn.Identity) else current
            if num_classes == 0:
                removed[path] = old
                self.set_submodule(path, nn.Identity())
            else:
                self.set_submodule(path, self.new_classifier_layer(old, num_classes))
        if num_classes != 0:
            removed.clear()

    def classifier_layers(self) -> dict[str, nn.Module]:
        """The final layers a new dataset replaces, by path: the classifier and the auxiliary ones built."""
        layers = {}
        for path in (self.classifier_path, *self.aux_classifier_paths):
            try:
                layers[path] = self.get_submodule(path)
            except AttributeError:  # an auxiliary head that was not built (aux_logits=False)
                continue
        return layers

    def aux_head_names(self) -> list[str]:
        """The attributes holding the auxiliary heads the model declares (``aux1``, ``aux2``; ``AuxLogits``),
        built or not: what weight import, tables, fusion and diagrams treat as auxiliary."""
        return aux_head_names(type(self))

    def aux_classifier_layers(self) -> dict[str, nn.Module]:
        """The auxiliary classifiers' final layers that were built, by path, in declared order (none when
        the model has no auxiliary heads or was built without them): what asks "which heads?" reads this."""
        return {p: m for p, m in self.classifier_layers().items() if p != self.classifier_path}

    def head_modules(self) -> list[nn.Module]:
        """What fine-tuning trains first: the classifier and each whole auxiliary head (``aux1``, ``AuxLogits``)."""
        heads = [self.get_classifier()]
        for path in self.aux_classifier_paths:
            head = getattr(self, path.split(".")[0], None)
            if isinstance(head, nn.Module):
                heads.append(head)
        return heads

    def new_classifier_layer(self, old: nn.Module, num_classes: int) -> nn.Module:
        """A fresh layer like ``old`` with ``num_classes`` outputs (Linear or 1x1 Conv2d)."""
        if isinstance(old, nn.Linear):
            new: nn.Module = nn.Linear(old.in_features, num_classes, bias=old.bias is not None)
        elif isinstance(old, nn.Conv2d):
            new = nn.Conv2d(old.in_channels, num_classes, old.kernel_size, old.stride, old.padding,
                            bias=old.bias is not None)
        else:
            raise TypeError(f"{type(self).__name__} must override new_classifier_layer for {type(old).__name__}")
        return new.to(device=old.weight.device, dtype=old.weight.dtype)


def layer_inputs(layer: nn.Module) -> int:
    """What a classifier layer reads: a Linear's input features, a convolution's input channels, or a layer's
    own ``in_features`` attribute (LeNet-5's RBF output units)."""
    for attr in ("in_features", "in_channels"):
        value = getattr(layer, attr, None)
        if isinstance(value, int):
            return value
    centres = getattr(layer, "centres", None)
    if centres is not None:
        return int(centres.shape[1])
    raise TypeError(f"cannot tell the input width of {type(layer).__name__}; give it an in_features attribute")


def aux_head_names(model: nn.Module | type) -> list[str]:
    """:meth:`ImageClassifier.aux_head_names` for any module or class (none for a model without the interface)."""
    paths = getattr(model, "aux_classifier_paths", ())
    return list(dict.fromkeys(p.split(".")[0] for p in paths))

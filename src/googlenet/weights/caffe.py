"""BVLC Caffe's GoogLeNet (``bvlc_googlenet.caffemodel``) into the paper-exact ``googlenet``.

A ``.caffemodel`` is a serialized ``caffe.NetParameter`` protobuf (caffe.proto). It is read here with
the protobuf library from message classes declared in code: only the messages and fields an import
needs (the layers' names, types and weight blobs), with caffe.proto's field numbers, so no protoc step
and no Caffe install. Both layer lists are read: ``layer`` (field 100, LayerParameter, Caffe since
2015) and the older ``layers`` (field 2, V1LayerParameter) that 2014 snapshots were saved with. All
other fields (convolution settings, fillers ...) are kept as unknown fields and ignored: the
architecture is ours, Table 1; only the weights come from the file.

The paper-exact ``googlenet`` has BVLC's layers one for one (7x7/2 conv, ceil-mode 3x3/2 max pools,
LRN size 5 alpha 1e-4 beta 0.75, real 5x5 branches, biases, no batch norm), so every blob maps onto
one of its tensors with the same shape. Caffe's deploy net has no auxiliary classifiers; a train_val
snapshot (like the released file) has them (``loss1/*``, ``loss2/*``), and the model is built with aux
heads only then.

Caffe's input convention is recorded in the model file (see :func:`.imagenet.caffe_preprocessing`):
BGR channel order, pixels 0-255, mean 104/117/123 subtracted, no division.

:func:`write_caffemodel` and :func:`googlenet_deploy_prototxt` write the same formats, so a model can
be run in an independent Caffe implementation (OpenCV's dnn module in the tests).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor, nn

from ..errors import DataError, UserError
from ._state import ImportedWeights

if TYPE_CHECKING:
    from ..models.googlenet import InceptionSpec

# ----------------------------------------------------------------------------- protobuf messages
# Field numbers from BVLC caffe.proto (src/caffe/proto/caffe.proto).
_FIELDS: dict[str, list[tuple[str, int, str, str, str | None]]] = {
    # message: [(field, number, label, type, message type)]
    "BlobShape": [("dim", 1, "repeated", "int64", None)],
    "BlobProto": [
        ("num", 1, "optional", "int64", None), ("channels", 2, "optional", "int64", None),
        ("height", 3, "optional", "int64", None), ("width", 4, "optional", "int64", None),
        ("data", 5, "repeated", "float", None), ("shape", 7, "optional", "message", "BlobShape"),
        ("double_data", 8, "repeated", "double", None),
    ],
    "LayerParameter": [
        ("name", 1, "optional", "string", None), ("type", 2, "optional", "string", None),
        ("bottom", 3, "repeated", "string", None), ("top", 4, "repeated", "string", None),
        ("blobs", 7, "repeated", "message", "BlobProto"),
    ],
    "V1LayerParameter": [
        ("bottom", 2, "repeated", "string", None), ("top", 3, "repeated", "string", None),
        ("name", 4, "optional", "string", None),
        # An enum (LayerType) in caffe.proto; enums are varints on the wire, so int32 reads the same.
        ("type", 5, "optional", "int32", None),
        ("blobs", 6, "repeated", "message", "BlobProto"),
    ],
    "NetParameter": [
        ("name", 1, "optional", "string", None),
        ("layers", 2, "repeated", "message", "V1LayerParameter"),
        ("layer", 100, "repeated", "message", "LayerParameter"),
    ],
}
#: V1LayerParameter.LayerType values of the layers that carry weights.
V1_TYPES = {"Convolution": 4, "InnerProduct": 14}


@cache
def messages() -> dict[str, type]:
    """The message classes (``NetParameter``, ``BlobProto`` ...), built once from :data:`_FIELDS`."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    F = descriptor_pb2.FieldDescriptorProto
    labels = {"optional": F.LABEL_OPTIONAL, "repeated": F.LABEL_REPEATED}
    types = {"int64": F.TYPE_INT64, "int32": F.TYPE_INT32, "float": F.TYPE_FLOAT, "double": F.TYPE_DOUBLE,
             "string": F.TYPE_STRING, "message": F.TYPE_MESSAGE}
    # A private pool and file name, so an installed caffe_pb2 (package "caffe" too) cannot clash with it.
    proto = descriptor_pb2.FileDescriptorProto(name="googlenet/caffe_subset.proto", package="caffe",
                                               syntax="proto2")
    for message, fields in _FIELDS.items():
        m = proto.message_type.add(name=message)
        for name, number, label, kind, type_name in fields:
            f = m.field.add(name=name, number=number, label=labels[label], type=types[kind])
            if type_name:
                f.type_name = f".caffe.{type_name}"
            if label == "repeated" and kind in ("int64", "float", "double"):
                f.options.packed = True  # [packed = true] in caffe.proto
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return {name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"caffe.{name}")) for name in _FIELDS}


# ----------------------------------------------------------------------------- BVLC names <-> ours
def _inception_names() -> list[str]:
    from ..models.googlenet import TABLE_1

    return [row.name for row in TABLE_1 if not isinstance(row, str)]


_BRANCHES = {"1x1": "branch1", "3x3_reduce": "branch2.0", "3x3": "branch2.1", "5x5_reduce": "branch3.0",
             "5x5": "branch3.1", "pool_proj": "branch4.1"}


@cache
def layer_map(aux: bool = True) -> dict[str, str]:
    """BVLC layer name -> our module prefix (weights at ``<prefix>.weight`` and ``.bias``), in net order."""
    names = {"conv1/7x7_s2": "conv1.conv", "conv2/3x3_reduce": "conv2.conv", "conv2/3x3": "conv3.conv"}
    for block in _inception_names():
        for suffix, branch in _BRANCHES.items():
            names[f"inception_{block}/{suffix}"] = f"inception{block}.{branch}.conv"
    if aux:  # section 5's auxiliary classifiers on 4a (loss1) and 4d (loss2)
        for i in (1, 2):
            names.update({f"loss{i}/conv": f"aux{i}.conv.conv", f"loss{i}/fc": f"aux{i}.fc1",
                          f"loss{i}/classifier": f"aux{i}.fc2"})
    names["loss3/classifier"] = "fc"
    return names


def aux_layer_names() -> list[str]:
    return [n for n in layer_map(True) if n.startswith(("loss1/", "loss2/"))]


# ----------------------------------------------------------------------------- reading
def read_caffemodel(path: str | Path) -> dict[str, list[np.ndarray]]:
    """Layer name -> its weight blobs (float32 arrays with Caffe's shapes), for layers that have blobs."""
    from google.protobuf.message import DecodeError

    from ._state import existing_file

    path = existing_file(path, "caffemodel", "e.g. bvlc_googlenet.caffemodel")
    net = messages()["NetParameter"]()
    try:
        net.ParseFromString(path.read_bytes())
    except (DecodeError, RuntimeError, ValueError) as exc:
        raise DataError(f"cannot read {str(path)!r} as a Caffe NetParameter ({exc.__class__.__name__}: "
                        f"{' '.join(str(exc).split())[:100]}): the file is truncated or not a .caffemodel; "
                        "download it again") from None
    layers: dict[str, list[np.ndarray]] = {}
    for layer in list(net.layers) + list(net.layer):
        if layer.blobs and layer.name not in layers:
            layers[layer.name] = [_blob_array(b, layer.name, path) for b in layer.blobs]
    if not layers:
        raise DataError(f"{str(path)!r} holds no layers with weights; it is not a trained .caffemodel (a "
                        "deploy.prototxt is text, pass the binary .caffemodel)")
    return layers


#: The most dimensions and values one blob may declare (BVLC GoogLeNet's largest blob, loss3/classifier's
#: weights, holds 1,024,000 values; this leaves room for 1000-class nets 100 times larger).
MAX_BLOB_DIMS = 8
MAX_BLOB_VALUES = 2**28


def _blob_array(blob: Any, layer: str, path: Path) -> np.ndarray:
    """The blob's values with its declared shape, checked before reshaping: every dimension positive, at
    most :data:`MAX_BLOB_VALUES` values, their product equal to the count stored (docs/robustness.md)."""
    if blob.HasField("shape"):
        shape = tuple(int(d) for d in blob.shape.dim)
    else:  # Caffe's 4-D legacy dimensions (num, channels, height, width), 1 for unused
        shape = tuple(int(d) for d in (blob.num, blob.channels, blob.height, blob.width))
    where = f"{str(path)!r}: a blob of layer {layer[:60]!r}"
    fix = "the file is damaged, download it again"
    if not shape or len(shape) > MAX_BLOB_DIMS or any(d < 1 for d in shape):
        raise DataError(f"{where} declares the shape {list(shape)[:MAX_BLOB_DIMS + 1]} (needs 1 to {MAX_BLOB_DIMS} "
                        f"positive dimensions); {fix}")
    declared = 1
    for d in shape:  # Python integers: 2**32 x 2**32 cannot overflow into a small or negative count
        declared *= d
    if declared > MAX_BLOB_VALUES:
        raise DataError(f"{where} declares {declared:,} values (shape {list(shape)}), over the {MAX_BLOB_VALUES:,} "
                        f"a blob may hold; {fix}")
    stored = len(blob.data) or len(blob.double_data)
    if stored != declared:
        raise DataError(f"{where} has {stored} values for shape {list(shape)}; {fix}")
    data = np.array(blob.data, dtype=np.float32) if len(blob.data) else np.array(blob.double_data, dtype=np.float32)
    if not np.isfinite(data).all():
        raise DataError(f"{where} holds non-finite values (NaN or infinity); {fix}")
    return data.reshape(shape)


# ----------------------------------------------------------------------------- importing
def has_aux_layers(layers: Mapping[str, Any]) -> bool:
    return all(name in layers for name in aux_layer_names())


def missing_layers(layers: Mapping[str, Any], aux: bool = False) -> list[str]:
    return [name for name in layer_map(aux) if name not in layers]


def caffe_state_dict(layers: Mapping[str, list[np.ndarray]], model: nn.Module, source: str = "caffemodel"
                     ) -> dict[str, Tensor]:
    """Our state_dict for ``model`` (a ``googlenet``) from BVLC-named blobs; shapes checked."""
    own = model.state_dict()
    aux = any(k.startswith("aux1.") for k in own)
    state: dict[str, Tensor] = {}
    for caffe_name, prefix in layer_map(aux).items():
        blobs = layers[caffe_name]
        if len(blobs) != 2:
            raise DataError(f"{source}: layer {caffe_name!r} has {len(blobs)} blobs, GoogLeNet's have 2 (weights "
                            "and bias); pass BVLC's bvlc_googlenet.caffemodel")
        for blob, param in zip(blobs, ("weight", "bias"), strict=True):
            key = f"{prefix}.{param}"
            want = tuple(own[key].shape)
            # Legacy blobs are 4-D ((1, 1, out, in) for a fully connected layer): only the count must agree.
            if blob.size != int(np.prod(want)) or (len(blob.shape) == len(want) and blob.shape != want):
                raise DataError(f"{source}: layer {caffe_name!r} has a {param} of shape {blob.shape}, the paper's "
                                f"googlenet expects {want}; this is not BVLC GoogLeNet (Table 1)")
            state[key] = torch.from_numpy(np.ascontiguousarray(blob.reshape(want)))
    return state


def import_caffe(path: str | Path, *, model: str | None = None, model_kwargs: dict[str, Any] | None = None):
    """Build the paper-exact ``googlenet`` from a BVLC ``.caffemodel``; aux heads only if the file has them."""
    from ..data.imagenet import caffe_preprocessing, class_names_for
    from ..models.registry import create_model

    if model not in (None, "googlenet"):
        raise UserError(f"a BVLC GoogLeNet caffemodel imports into the paper-exact 'googlenet', not {model!r}; "
                        "drop --model (or pass --model googlenet)")
    layers = read_caffemodel(path)
    missing = missing_layers(layers)
    if missing:
        present = [n for n in layers if n not in layer_map(True)]
        raise DataError(f"{str(path)!r} is not BVLC GoogLeNet: {len(missing)} of its {len(layer_map(False))} "
                        f"layers are missing, first {', '.join(missing[:5])} (the file has {', '.join(present[:4])}"
                        f"{' ...' if len(present) > 4 else ''}); pass bvlc_googlenet.caffemodel or a net with "
                        "BVLC's layer names")
    aux = has_aux_layers(layers)
    num_classes = int(layers["loss3/classifier"][-1].size)  # the bias: 1-D (new) or (1, 1, 1, n) (legacy)
    kwargs: dict[str, Any] = {"num_classes": num_classes, "aux_logits": aux, **(model_kwargs or {})}
    net = create_model("googlenet", **kwargs)
    net.load_state_dict(caffe_state_dict(layers, net, repr(str(path))), strict=True)
    net.eval()
    return ImportedWeights("googlenet", net, class_names_for(num_classes), caffe_preprocessing(), kwargs,
                           "caffe", str(path))


# ----------------------------------------------------------------------------- writing
def write_caffemodel(state_dict_or_model: Mapping[str, Tensor] | nn.Module, path: str | Path, *,
                     legacy_layers: bool = False) -> Path:
    """Write a ``googlenet`` state_dict as a BVLC-named ``.caffemodel`` (atomically).

    Aux heads are written when the state_dict has them. ``legacy_layers`` writes the old ``layers``
    (V1LayerParameter) list with 4-D blob dimensions, as 2014 Caffe did, instead of ``layer``.
    """
    from ..system.files import atomic_write

    state = state_dict_or_model.state_dict() if isinstance(state_dict_or_model, nn.Module) else state_dict_or_model
    aux = "aux1.fc2.weight" in state
    missing = [f"{p}.weight" for p in layer_map(aux).values() if f"{p}.weight" not in state]
    if missing:
        raise UserError(f"not a state_dict of the paper-exact googlenet (missing {missing[:3]}); build it with "
                        "create_model('googlenet')")
    msg = messages()
    net = msg["NetParameter"](name="GoogleNet")
    for caffe_name, prefix in layer_map(aux).items():
        layer = net.layers.add() if legacy_layers else net.layer.add()
        layer.name = caffe_name
        kind = "Convolution" if state[f"{prefix}.weight"].dim() == 4 else "InnerProduct"
        layer.type = V1_TYPES[kind] if legacy_layers else kind
        for param in ("weight", "bias"):
            values = state[f"{prefix}.{param}"].detach().cpu().float().numpy()
            blob = layer.blobs.add()
            if legacy_layers:
                dims = (1,) * (4 - values.ndim) + values.shape
                blob.num, blob.channels, blob.height, blob.width = dims
            else:
                blob.shape.dim.extend(values.shape)
            blob.data.extend(values.ravel().tolist())
    data = net.SerializeToString()
    return atomic_write(path, lambda tmp: tmp.write_bytes(data))


def googlenet_deploy_prototxt(num_classes: int = 1000, *, aux: bool = False, input_size: int = 224,
                              batch: int = 1) -> str:
    """Caffe's deploy.prototxt of GoogLeNet, from Table 1 with BVLC's layer names.

    Layers as section 5 and BVLC's net: ReLU after every convolution and the aux FC, LRN (size 5,
    alpha 1e-4, beta 0.75) after pool1 and conv2, Caffe's max pools (ceil mode by construction), the
    7x7/1 average pool, dropout 0.4, ``loss3/classifier`` and a ``prob`` softmax. ``aux=True`` adds
    the two auxiliary heads (5x5/3 average pool, 1x1 conv 128, FC 1024, dropout 0.7, classifier) as
    plain outputs ``loss1/classifier`` and ``loss2/classifier``, without their losses.
    """
    from ..models.googlenet import TABLE_1

    net = _Prototxt(num_classes)
    net.add("data", "Input", [], "data",
            f"input_param {{ shape: {{ dim: {batch} dim: 3 dim: {input_size} dim: {input_size} }} }}")
    x = net.conv("conv1/7x7_s2", "data", 64, 7, stride=2, pad=3, relu="conv1/relu_7x7")
    x = net.lrn("pool1/norm1", net.pool("pool1/3x3_s2", x, "MAX", 3, 2))
    x = net.conv("conv2/3x3_reduce", x, 64, 1, relu="conv2/relu_3x3_reduce")
    x = net.lrn("conv2/norm2", net.conv("conv2/3x3", x, 192, 3, pad=1, relu="conv2/relu_3x3"))
    x = net.pool("pool2/3x3_s2", x, "MAX", 3, 2)
    for row in TABLE_1:
        if isinstance(row, str):  # "maxpool3", "maxpool4": BVLC's pool3/3x3_s2, pool4/3x3_s2
            x = net.pool(f"pool{row[-1]}/3x3_s2", x, "MAX", 3, 2)
            continue
        x = net.inception(row, x)
        if aux and row.name in ("4a", "4d"):
            net.aux_head(1 if row.name == "4a" else 2, x)
    x = net.pool("pool5/7x7_s1", x, "AVE", 7, 1)
    net.add("pool5/drop_7x7_s1", "Dropout", [x], x, "dropout_param { dropout_ratio: 0.4 }")
    net.add("loss3/classifier", "InnerProduct", [x], "loss3/classifier",
            f"inner_product_param {{ num_output: {num_classes} }}")
    net.add("prob", "Softmax", ["loss3/classifier"], "prob")
    return "\n".join(net.lines) + "\n"


class _Prototxt:
    """A deploy.prototxt being written, layer by layer; each method returns the name of the blob it made."""

    def __init__(self, num_classes: int) -> None:
        self.num_classes = num_classes
        self.lines: list[str] = ['name: "GoogleNet"']

    def add(self, name: str, kind: str, bottoms: list[str], top: str, params: str = "") -> None:
        self.lines.append(_layer(name, kind, bottoms, top, params))

    def conv(self, name: str, bottom: str, n: int, k: int, stride: int = 1, pad: int = 0, relu: str = "") -> str:
        params = f"num_output: {n}" + (f" pad: {pad}" if pad else "") + f" kernel_size: {k}"
        params += f" stride: {stride}" if stride != 1 else ""
        self.add(name, "Convolution", [bottom], name, f"convolution_param {{ {params} }}")
        self.add(relu or name.replace("/", "/relu_", 1), "ReLU", [name], name)
        return name

    def pool(self, name: str, bottom: str, method: str, k: int, stride: int, pad: int = 0) -> str:
        params = f"pool: {method} kernel_size: {k} stride: {stride}" + (f" pad: {pad}" if pad else "")
        self.add(name, "Pooling", [bottom], name, f"pooling_param {{ {params} }}")
        return name

    def lrn(self, name: str, bottom: str) -> str:
        self.add(name, "LRN", [bottom], name, "lrn_param { local_size: 5 alpha: 0.0001 beta: 0.75 }")
        return name

    def inception(self, row: InceptionSpec, bottom: str) -> str:
        """One row of Table 1: the four branches and their concatenation."""
        p = f"inception_{row.name}"
        b1 = self.conv(f"{p}/1x1", bottom, row.n1x1, 1)
        b2 = self.conv(f"{p}/3x3", self.conv(f"{p}/3x3_reduce", bottom, row.n3x3_reduce, 1), row.n3x3, 3, pad=1)
        b3 = self.conv(f"{p}/5x5", self.conv(f"{p}/5x5_reduce", bottom, row.n5x5_reduce, 1), row.n5x5, 5, pad=2)
        b4 = self.conv(f"{p}/pool_proj", self.pool(f"{p}/pool", bottom, "MAX", 3, 1, pad=1), row.pool_proj, 1)
        self.add(f"{p}/output", "Concat", [b1, b2, b3, b4], f"{p}/output")
        return f"{p}/output"

    def aux_head(self, i: int, bottom: str) -> None:
        x = self.pool(f"loss{i}/ave_pool", bottom, "AVE", 5, 3)
        x = self.conv(f"loss{i}/conv", x, 128, 1, relu=f"loss{i}/relu_conv")
        self.add(f"loss{i}/fc", "InnerProduct", [x], f"loss{i}/fc", "inner_product_param { num_output: 1024 }")
        self.add(f"loss{i}/relu_fc", "ReLU", [f"loss{i}/fc"], f"loss{i}/fc")
        self.add(f"loss{i}/drop_fc", "Dropout", [f"loss{i}/fc"], f"loss{i}/fc", "dropout_param { dropout_ratio: 0.7 }")
        self.add(f"loss{i}/classifier", "InnerProduct", [f"loss{i}/fc"], f"loss{i}/classifier",
                 f"inner_product_param {{ num_output: {self.num_classes} }}")


def _layer(name: str, kind: str, bottoms: list[str], top: str, params: str = "") -> str:
    lines = [f'layer {{ name: "{name}" type: "{kind}"'] + [f'  bottom: "{b}"' for b in bottoms]
    lines.append(f'  top: "{top}"' + (f" {params}" if params else "") + " }")
    return "\n".join(lines)

"""The one backend registry (issue 23 item 2, issue 27): names mean one thing in eval, predict, bench and serve;
OpenVINO fp32, bf16 and int8 match torch within their bounds; auto measures, explains and caches its choice; a
missing OpenVINO, a compile failure and an op OpenVINO lacks are one line each."""

from __future__ import annotations

import json
import sys

import pytest
import torch

import googlenet
from googlenet.bench.inputs import settle_batch_norm
from googlenet.deploy.backends import backend_names, backend_spec, build_backend, resolve_backend
from googlenet.deploy.backends.base import Streams
from googlenet.errors import UserError
from googlenet.evaluation import Ensemble
from googlenet.weights.checkpoint import save_model

KWARGS = dict(num_classes=10, small_input=True, width=0.25, batch_norm=True, lrn=False, aux_logits=False)
PRE = {"input_size": 32, "resize": 32, "mean": [0.49, 0.48, 0.45], "std": [0.25, 0.24, 0.26], "channels": 3,
       "dataset": "cifar10"}


@pytest.fixture(scope="module")
def photos(shared_data):
    from googlenet.data.calibration import calibration_photos

    return calibration_photos(32, 32, data_dir=shared_data)


@pytest.fixture(scope="module")
def model(photos):
    """A small GoogLeNet with settled batch norm and spread logits: backends have real work and real ranges."""
    torch.manual_seed(0)
    net = googlenet.create_model("googlenet", **KWARGS)
    mean, std = torch.tensor(PRE["mean"]).view(1, 3, 1, 1), torch.tensor(PRE["std"]).view(1, 3, 1, 1)
    settle_batch_norm(net, (photos - mean) / std)
    with torch.no_grad():
        net.fc.weight.normal_(0, 0.2)
    return net.eval()


@pytest.fixture(scope="module")
def model_file(model, tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "model.safetensors"
    return save_model(path, model, model_name="googlenet", model_kwargs=KWARGS,
                      class_names=[str(i) for i in range(10)], preprocessing=PRE)


def normalized(photos):
    mean, std = torch.tensor(PRE["mean"]).view(1, 3, 1, 1), torch.tensor(PRE["std"]).view(1, 3, 1, 1)
    return (photos - mean) / std


#: |logit difference| / max |logit| allowed (the largest for fp32 and bf16, the mean for int8, whose rare
#: saturated activations move single logits far), and the least top-1 agreement with torch on the photos.
BOUNDS = {"openvino": (1e-5, 1.0), "openvino-bf16": (0.06, 0.85), "openvino-int8": (0.1, 0.75)}


@pytest.mark.parametrize("name", list(BOUNDS))
def test_each_openvino_precision_matches_torch_within_its_bound(name, model, photos):
    if name == "openvino-bf16":
        from googlenet.system.hardware import cpu_has_native_bf16

        if not cpu_has_native_bf16():
            pytest.skip("this CPU has no native bf16 (the refusal is tested below)")
    x = normalized(photos)
    with torch.no_grad():
        expected = model(x)
    backend = build_backend(name, model, crop_size=32, channels=3, calibration=x)
    got = backend(x)
    assert backend.name == name and got.shape == expected.shape and got.dtype == torch.float32
    relative, agreement = BOUNDS[name]
    scale = float(expected.abs().max())
    assert scale > 1  # logits of a realistic scale
    error = (got - expected).abs()
    assert float(error.mean() if name.endswith("int8") else error.max()) <= relative * scale + 1e-4
    assert float((got.argmax(1) == expected.argmax(1)).float().mean()) >= agreement
    if name == "openvino":  # exact enough that the batch can change (the graph's batch is dynamic)
        torch.testing.assert_close(backend(x[:5]), expected[:5], atol=1e-4, rtol=0)


@pytest.mark.parametrize("name", ["ort", "int8"])
def test_a_large_batch_runs_as_one_part_per_core_with_the_same_logits(name, model, photos):
    """Streams (docs/performance.md "Streams"): 9 images on 2 threads run as parts of 5 and 4, one per core; the
    logits are those of the same images in batches of 3, which run as one call on both threads."""
    x = normalized(photos)
    backend = build_backend(name, model, crop_size=32, channels=3, calibration=x, threads=2)
    assert backend.streams.count == 2 and not backend.streams.splits(3) and backend.streams.splits(9)
    in_threes = torch.cat([backend(x[i:i + 3]) for i in range(0, 9, 3)])
    assert backend.streams.split_batches == 0
    whole = backend(x[:9])
    assert backend.streams.split_batches == 1
    torch.testing.assert_close(whole, in_threes, atol=1e-4 * float(in_threes.abs().max()), rtol=0)
    run = backend.bind(x[:9])  # what the bench times: the same parts
    torch.testing.assert_close(torch.as_tensor(backend.to_numpy(run())), whole, atol=0, rtol=0)
    assert backend.streams.split_batches == 2
    assert not Streams(1).splits(32)  # one thread: nothing to split across


def test_bf16_is_refused_in_one_line_where_the_cpu_lacks_it(model, monkeypatch):
    monkeypatch.setattr("googlenet.system.hardware.cpu_has_native_bf16", lambda: False)
    with pytest.raises(UserError, match="native bf16") as info:
        build_backend("openvino-bf16", model, crop_size=32, channels=3)
    assert "\n" not in str(info.value) and "--backend openvino" in str(info.value)


def test_auto_measures_explains_and_caches_its_choice(model_file, photos, tmp_path, monkeypatch, capsys):
    from googlenet.deploy.backends import auto

    monkeypatch.setenv("GOOGLENET_CACHE", str(tmp_path))
    ensemble = Ensemble.load([model_file])
    member = ensemble.members[0]
    assert ensemble.use_backend("auto", calibration=list(photos)) == ["auto"]
    backend = member.runner(32)
    note = capsys.readouterr().err.strip().splitlines()
    assert len(note) == 1 and note[0].startswith("googlenet: note: --backend auto picked " + member.backend)
    record = backend.auto_record
    within = [n for n, change in record["top1_change_pt"].items() if change <= auto.TOP1_BOUND_PT]
    assert record["picked"] == member.backend == max(within, key=record["images_per_s"].get)
    assert {"ort", "torch", "openvino"} <= set(record["images_per_s"]) and record["batch"] == 32
    cache = json.loads((tmp_path / "backends" / "auto.json").read_text())
    assert [r["picked"] for r in cache.values()] == [member.backend]
    # The second time it reads the cache instead of measuring, and says so.
    monkeypatch.setattr(auto, "measure", lambda *a, **k: pytest.fail("measured again despite the cache"))
    again = Ensemble.load([model_file])
    again.use_backend("auto", calibration=list(photos))
    assert again.members[0].runner(32).name == member.backend
    assert "[cached" in capsys.readouterr().err
    # Its probabilities are the model's: to 1e-4 in fp32, to bf16's precision in bf16.
    eager = Ensemble.load([model_file]).predict_proba(photos)
    tolerance = 0.1 if backend_spec(member.backend).precision == "bf16" else 1e-4
    assert float((again.predict_proba(photos) - eager).abs().max()) < tolerance


def test_without_openvino_each_name_is_one_line_and_auto_falls_back(model, photos, tmp_path, monkeypatch,
                                                                     capsys):
    monkeypatch.setenv("GOOGLENET_CACHE", str(tmp_path))
    monkeypatch.setitem(sys.modules, "openvino", None)  # `import openvino` fails; find_spec answers None
    for name in ("openvino", "openvino-bf16", "openvino-int8"):
        with pytest.raises(UserError, match="needs openvino; pip install openvino nncf") as info:
            resolve_backend(name)
        assert "\n" not in str(info.value)
    backend = build_backend("auto", model, crop_size=32, channels=3, calibration=normalized(photos))
    assert backend.name in ("ort", "torch") and "openvino" not in backend.auto_record["images_per_s"]
    assert "needs openvino" in capsys.readouterr().err


def test_a_compile_failure_drops_openvino_from_auto_in_one_line(model, photos, tmp_path, monkeypatch, capsys):
    from googlenet.deploy.backends import openvino

    def refuse(self, *args, **kwargs):
        raise openvino.openvino_failure(RuntimeError("Exception from plugin:\nCPU plugin crashed\nat line 3"),
                                        "compile the model")

    monkeypatch.setenv("GOOGLENET_CACHE", str(tmp_path))
    monkeypatch.setattr(openvino.OpenVinoBackend, "__init__", refuse)
    backend = build_backend("auto", model, crop_size=32, channels=3, calibration=normalized(photos))
    assert backend.name in ("ort", "torch")
    note = capsys.readouterr().err.strip().splitlines()
    assert len(note) == 1 and "OpenVINO cannot compile the model (Exception from plugin: CPU plugin crashed" in note[0]


def test_an_op_openvino_lacks_is_one_line_naming_it(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 8, 8])
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["h"]),
                               helper.make_node("Frobnicate", ["h"], ["y"], domain="com.example")], "g", [x], [y])
    path = tmp_path / "odd.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18),
                                                      helper.make_opsetid("com.example", 1)]), path)
    with pytest.raises(UserError) as info:
        build_backend("openvino", None, crop_size=8, onnx_path=path)
    message = str(info.value)
    assert "\n" not in message and "'com.example.Frobnicate'" in message and "--backend ort" in message


def test_names_mean_one_thing_in_every_command():
    from googlenet.bench import BACKENDS as BENCH
    from googlenet.cli._common import add_backend_flag

    registry = backend_names()
    assert {"eager", "torch", "ort", "int8", "openvino", "openvino-bf16", "openvino-int8", "auto"} <= set(registry)
    assert BENCH == ("tv-eager", "tv-ort") + tuple(n for n in registry if n != "auto")  # bench adds its anchors only
    import argparse

    parser = argparse.ArgumentParser()
    add_backend_flag(parser)
    help_text = parser._actions[-1].help
    assert all(name in help_text for name in registry)  # the help names every registered backend
    for old, new in (("ort-folded", "ort"), ("channels-last", "torch")):  # bench's old names, one line each
        with pytest.raises(UserError, match=f"now called {new!r}"):
            backend_spec(old)
    assert backend_spec("openvino-int8").fp32_reference == "openvino" and backend_spec("int8").fp32_reference == "ort"

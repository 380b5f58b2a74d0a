"""Fused inference, int8 quantization, training fusion and the benchmark: outputs equal, never timed."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from torch import nn

from googlenet.deploy.fusion import FusedInception, fold_conv_bn, optimize_for_inference
from googlenet.deploy.onnx import export_onnx
from googlenet.deploy.train_fusion import TrainFusedInception, fuse_for_training, unfuse_state_dict
from googlenet.errors import UserError
from googlenet.models.registry import create_model

SMALL = dict(width=0.25, small_input=True, num_classes=10)


def _randomize_bn(model: nn.Module, seed: int = 0) -> nn.Module:
    """Non-trivial batch-norm statistics and affine parameters, so folding them is really tested."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.rand(n, generator=g) - 0.5)
            m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            with torch.no_grad():
                m.weight.copy_(torch.rand(n, generator=g) + 0.5)
                m.bias.copy_(torch.rand(n, generator=g) - 0.5)
    return model.eval()


@pytest.fixture(scope="module")
def models() -> dict[str, nn.Module]:
    torch.manual_seed(0)
    return {
        "googlenet": create_model("googlenet", **SMALL).eval(),
        "googlenet_torchvision": _randomize_bn(create_model("googlenet_torchvision", **SMALL)),
    }


@pytest.mark.parametrize("name", ["googlenet", "googlenet_torchvision"])
def test_optimize_for_inference_equal_outputs(models, name):
    model = models[name]
    before = {k: v.clone() for k, v in model.state_dict().items()}
    fused = optimize_for_inference(model)
    # BN folded everywhere, every inception module fused, aux heads gone.
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fused.modules())
    assert sum(isinstance(m, FusedInception) for m in fused.modules()) == 9
    assert fused.aux1 is None and not fused.training
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        expected = model(x)
        torch.testing.assert_close(fused(x), expected, atol=1e-4, rtol=0)
        fused_cl = optimize_for_inference(model, memory_format=torch.channels_last)
        torch.testing.assert_close(fused_cl(x.contiguous(memory_format=torch.channels_last)), expected, atol=1e-4,
                                   rtol=0)
    for k, v in model.state_dict().items():  # the original is untouched
        assert torch.equal(v, before[k]), k


def test_fused_1x1_is_one_convolution(models):
    fused = optimize_for_inference(models["googlenet_torchvision"])
    block = fused.inception3a
    spec = models["googlenet_torchvision"].inception3a.spec
    assert block.conv1x1.out_channels == spec.n1x1 + spec.n3x3_reduce + spec.n5x5_reduce
    assert block.splits == [spec.n1x1, spec.n3x3_reduce, spec.n5x5_reduce]


def test_fold_conv_bn_matches_and_rejects_stats_free_bn():
    torch.manual_seed(1)
    conv, bn = nn.Conv2d(4, 6, 3, padding=1, bias=False), nn.BatchNorm2d(6)
    _randomize_bn(nn.Sequential(bn))
    x = torch.randn(2, 4, 9, 9)
    with torch.no_grad():
        torch.testing.assert_close(fold_conv_bn(conv, bn)(x), bn.eval()(conv(x)), atol=1e-5, rtol=0)
    with pytest.raises(UserError, match="running statistics"):
        fold_conv_bn(conv, nn.BatchNorm2d(6, track_running_stats=False))
    with pytest.raises(UserError, match="nn.Module"):
        optimize_for_inference("googlenet")


def test_compiled_fused_inception_equal(models):
    # One fused inception module (the whole network compiles the same ops, 9 times over: minutes on 2 cores).
    model = models["googlenet_torchvision"]
    block = optimize_for_inference(model, memory_format=torch.channels_last).inception4a
    compiled = torch.compile(block, dynamic=False)
    x = torch.randn(2, model.inception4a.branch1.conv.in_channels, 8, 8).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), model.inception4a(x), atol=1e-4, rtol=0)


def test_fused_onnx_export_runs_in_onnxruntime(models, tmp_path):
    from googlenet.deploy.ort import onnx_predict

    model = models["googlenet"]
    path = export_onnx(optimize_for_inference(model), tmp_path / "fused.onnx", input_size=32)
    import onnx

    graph = onnx.load(str(path)).graph
    n_conv = sum(node.op_type == "Conv" for node in graph.node)
    assert n_conv == 3 + 9 * 4  # stem (3) + 4 per fused inception module (was 6)
    x = torch.randn(5, 3, 32, 32)  # dynamic batch
    with torch.no_grad():
        expected = model(x).numpy()
    np.testing.assert_allclose(onnx_predict(path, x), expected, atol=1e-4, rtol=0)


def test_int8_quantization_calibrated_on_real_images(shared_data, tmp_path):
    import onnx

    from googlenet.bench import real_images, settle_batch_norm
    from googlenet.deploy.ort import onnx_predict
    from googlenet.deploy.quantize import quantize_onnx

    torch.manual_seed(0)
    model = create_model("googlenet_torchvision", **SMALL)
    images = real_images(48, 32, data_dir=shared_data)
    settle_batch_norm(model, images[:32])
    fp32 = export_onnx(optimize_for_inference(model), tmp_path / "fp32.onnx", input_size=32)
    int8 = quantize_onnx(fp32, tmp_path / "int8.onnx", images[:32])
    graph = onnx.load(str(int8)).graph
    assert sum(node.op_type == "QuantizeLinear" for node in graph.node) >= 20
    int8_weights = [t for t in graph.initializer if t.data_type == onnx.TensorProto.INT8]
    assert len(int8_weights) >= 30  # every convolution's weight stored as int8
    with torch.no_grad():
        reference = model(images[32:]).numpy()
    got = onnx_predict(int8, images[32:])
    rel = np.linalg.norm(got - reference) / np.linalg.norm(reference)
    # Measured 0.25 on an AVX2 CPU (7-bit weights); a broken scale or zero point gives >= 1.
    assert rel < 0.5, f"int8 logits too far from fp32 (relative error {rel:.3f})"
    with pytest.raises(UserError, match="calibration method"):
        quantize_onnx(fp32, tmp_path / "x.onnx", images[:8], method="magic")
    with pytest.raises(UserError, match="not found"):
        quantize_onnx(tmp_path / "missing.onnx", tmp_path / "x.onnx", images[:8])


@pytest.mark.parametrize("name", ["googlenet", "googlenet_torchvision"])
def test_training_fusion_same_forward_gradients_and_update(name):
    torch.manual_seed(0)
    model = create_model(name, **SMALL)
    fused = fuse_for_training(model)
    assert sum(isinstance(m, TrainFusedInception) for m in fused.modules()) == 9
    x, y = torch.randn(4, 3, 32, 32), torch.tensor([0, 1, 2, 3])
    for m in (model, fused):
        m.train()
        opt = torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9)
        torch.manual_seed(1)  # same dropout masks
        out = m(x)
        loss = sum(nn.functional.cross_entropy(o, y) for o in out)
        loss.backward()
        opt.step()
        m.loss = float(loss)
    assert model.loss == pytest.approx(fused.loss, abs=1e-4)
    state, expected = unfuse_state_dict(fused), model.state_dict()
    assert state.keys() == expected.keys()
    for k in expected:
        torch.testing.assert_close(state[k].float(), expected[k].float(), atol=1e-4, rtol=0, msg=k)
    fresh = create_model(name, **SMALL)
    fresh.load_state_dict(state, strict=True)


def test_bench_inference_small_model(shared_data):
    from googlenet.bench import bench_inference

    result = bench_inference("googlenet_torchvision", backends=["eager", "ort", "ort-fused"], batches=[2],
                             seconds=0.5, memory=False, model_kwargs=SMALL, data_dir=shared_data)
    rows = {r["backend"]: r for r in result["results"]}
    assert set(rows) == {"tv-eager", "tv-ort", "eager", "ort", "ort-fused"}
    for r in rows.values():
        assert r["images_per_s"] > 0 and r["vs_tv_ort"] > 0
    for name in ("eager", "ort", "ort-fused"):  # our optimized backends compute our model's function
        assert rows[name]["max_abs_diff"] is not None and rows[name]["max_abs_diff"] < 1e-4, rows[name]
    assert rows["tv-eager"]["vs_tv_eager"] == 1.0
    assert result["load_before"] and result["machine"]["cores"]


def test_bench_cli_errors_and_json(run_cli, shared_data):
    code, _, err = run_cli("bench", "googlenet_torchvision", "--batch", "0")
    assert code == 2 and "batch sizes must be positive" in err
    code, _, err = run_cli("bench", "googlenet_torchvision", "--backend", "tensorrt", "--no-memory")
    assert code == 2 and "unknown backend 'tensorrt'" in err
    code, _, err = run_cli("bench", "no_such_model")
    assert code == 2
    code, out, _ = run_cli("bench", "googlenet_torchvision", "--width", "0.25", "--small-input", "--num-classes",
                           "10", "--backend", "eager", "--batch", "2", "--seconds", "0.3", "--no-memory",
                           "--data-dir", str(shared_data), "--json")
    assert code == 0
    import json

    rows = json.loads(out)["inference"]["results"]
    assert {r["backend"] for r in rows} == {"tv-eager", "tv-ort", "eager"}


def test_bench_training_small(shared_data):
    from googlenet.bench import bench_training

    result = bench_training("googlenet_torchvision", backends=["fused", "bf16"], batch=4, input_size=32,
                            seconds=0.2, model_kwargs=SMALL, data_dir=shared_data)
    rows = {r["backend"]: r for r in result["results"]}
    assert set(rows) == {"tv-eager", "tv-channels-last", "fused", "bf16"}
    assert isinstance(result["machine"]["cpu_features"], list)
    assert rows["tv-channels-last"]["vs_tv_channels_last"] == 1.0
    assert all(r["images_per_s"] > 0 for r in rows.values())
    with pytest.raises(UserError, match="unknown training backend"):
        bench_training("googlenet_torchvision", backends=["tpu"], batch=4, input_size=32, model_kwargs=SMALL,
                       data_dir=shared_data)


def test_bf16_training_step_computes_in_bf16_and_keeps_fp32_weights():
    from googlenet.bench import train_step_fn
    from googlenet.models.registry import create_model

    model = create_model("googlenet_torchvision", **SMALL)
    seen: list[torch.dtype] = []
    model.conv1.conv.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    before = model.fc.weight.detach().clone()
    step = train_step_fn(model, torch.randn(2, 3, 32, 32), torch.tensor([0, 1]), bf16=True)
    loss = step()
    assert seen == [torch.bfloat16] and loss == loss  # the convolution ran in bf16, the loss is a number
    assert model.fc.weight.dtype == torch.float32 and not torch.equal(model.fc.weight, before)


def test_cpu_features_decide_int8_weights_and_bf16(monkeypatch):
    import platform

    from googlenet.system import hardware

    if platform.machine() == "x86_64" and os.path.exists("/proc/cpuinfo"):
        assert "sse2" in hardware.cpu_flags() and hardware.cpu_name() != "unknown"  # the real /proc/cpuinfo
    monkeypatch.setattr(hardware, "cpu_flags", lambda: frozenset({"fma", "avx2", "avx512_vnni"}))
    assert hardware.cpu_features() == ["avx2", "avx512_vnni"]
    assert hardware.cpu_has_vnni() and not hardware.cpu_has_native_bf16()
    monkeypatch.setattr(hardware, "cpu_flags", lambda: frozenset({"avx2", "amx_bf16"}))
    assert not hardware.cpu_has_vnni() and hardware.cpu_has_native_bf16()

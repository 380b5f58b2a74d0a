"""The training loop: one function, :func:`train`, used by ``googlenet train`` and from Python.

Loss (GoogLeNet section 5): cross-entropy on the main logits plus ``aux_weight`` (0.3) times the
cross-entropy of each auxiliary classifier, when the model has them; at inference only the main
logits are used. Evaluation uses the averaged weights when ``ema_decay`` is set (section 6's Polyak
averaging; an exponential moving average of the weights, as in Inception-v3's section 8).

Reproducibility: the order of the samples in epoch ``e`` is a permutation seeded by ``seed + e``
(:class:`~torch.utils.data.DistributedSampler`'s rule, also with one process), and the augmentation
of sample ``i`` in epoch ``e`` draws from a generator seeded by ``(seed, e, i)``. So a run's data do
not depend on the number of processes or loader workers, or on where it was interrupted.

Checkpoints (rank 0, atomically): at every epoch end and on SIGINT/SIGTERM (at the next step
boundary, mid-epoch), ``last.safetensors`` (the weights being trained), ``model.safetensors``
(the weights to use: averaged when averaging is on) and ``train_state.pt`` (optimizer, scheduler,
averaged weights, RNG, epoch and step, partial-epoch sums). ``train(..., resume=run_dir)`` continues.
A finished run without averaging deletes ``last.safetensors`` (``model.safetensors`` holds the same weights,
and resuming reads it), so the folder keeps one copy of its weights.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from ..data import dataset_stats, eval_transform, load_dataset, train_transform
from ..data.augment import RandomCrops
from ..data.datasets import ImageDataset, MissingSplit
from ..data.registry import is_small_image_dataset
from ..errors import DataError, UserError
from ..models.outputs import split_outputs
from ..models.registry import create_model, model_info
from ..system.files import check_run_dir, mark_run_dir
from ..system.hardware import cpu_has_native_bf16
from ..weights.checkpoint import load_model, read_model_metadata, resolve_model_path, save_model
from . import records
from .config import FIELDS, TrainConfig, check_setting, make_config, parse_sizes, source_normalization
from .config import validate as validate_config
from .distributed import (
    DistInfo,
    all_max,
    all_sum,
    any_flag,
    is_lost_peer,
    lost_peer_message,
    resume_command,
    setup,
    teardown,
)
from .fastdata import PhotoBatches, TensorBatches
from .loss import training_loss
from .optim import Schedule, build_optimizer
from .state import load_training_state, save_training_state

STATE_FORMAT = "googlenet-train-state/1"
MODEL_FILE, LAST_FILE, STATE_FILE = "model.safetensors", "last.safetensors", "train_state.pt"


class TrainingInterrupted(KeyboardInterrupt):
    """Raised after SIGINT/SIGTERM once the checkpoint is written; ``run_dir`` holds it."""

    def __init__(self, run_dir: Path, epoch: int, step: int) -> None:
        super().__init__(f"interrupted at epoch {epoch + 1} step {step}; checkpoint in {run_dir}")
        self.run_dir, self.epoch, self.step = run_dir, epoch, step


class SeededView(Dataset):
    """``dataset[i]`` with torch's RNG seeded by (seed, epoch, i): augmentation is a pure function of those."""

    def __init__(self, dataset: Dataset, seed: int) -> None:
        self.dataset, self.seed, self.epoch = dataset, seed, 0

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, i: int) -> Any:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(((self.seed * 1_000_003 + self.epoch) * 10_000_019 + int(i)) % (2**63 - 1))
            return self.dataset[i]


def pick_device(name: str, info: DistInfo) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and info.enabled:
        name = f"cuda:{info.local_rank}"
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UserError(f"unknown device {name!r}; use auto, cpu, cuda, cuda:N or mps") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError("device cuda requested but no CUDA GPU is available; use --device cpu")
    return device


def topk_correct(logits: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    k = min(5, logits.shape[1])
    top = logits.topk(k, dim=1).indices
    hit = top.eq(y[:, None])
    return hit[:, 0].sum(), hit.any(dim=1).sum()


@dataclass(frozen=True)
class RunSettings:
    """How a process runs batches through a model, as the trainer set it up: its place among torchrun's
    processes (``info``), channels-last batches or not, autocast ``amp`` as (enabled, dtype), and the
    DataLoader workers of the per-image path."""

    info: DistInfo = field(default_factory=DistInfo)
    channels_last: bool = False
    amp: tuple[bool, torch.dtype] = (False, torch.float32)
    workers: int = 0


@torch.no_grad()
def validate(model: nn.Module, dataset: Dataset, *, batch_size: int, device: torch.device,
             fast: TensorBatches | None = None, settings: RunSettings | None = None) -> dict[str, float]:
    """Loss, top-1 and top-5 (percent) of ``model`` on ``dataset``; shards over processes under torchrun.
    ``fast``: the dataset's batch path (:mod:`googlenet.training.fastdata`), else a DataLoader."""
    settings = settings or RunSettings()
    info, channels_last, amp, workers = settings.info, settings.channels_last, settings.amp, settings.workers
    was_training = model.training
    model.eval()
    indices = list(range(info.rank, len(dataset), info.world_size))  # type: ignore[arg-type]
    if fast is not None:
        loader = (fast.batch(indices[k:k + batch_size], 0) for k in range(0, len(indices), batch_size))
    else:
        loader = DataLoader(torch.utils.data.Subset(dataset, indices), batch_size=batch_size, num_workers=workers,
                            pin_memory=device.type == "cuda", generator=torch.Generator())  # global RNG untouched
    loss = top1 = top5 = n = 0.0
    for x, y in _reraise_worker_errors(loader):
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=amp[1], enabled=amp[0]):
            logits, _ = split_outputs(model(x))
        logits = logits.float()
        loss += float(F.cross_entropy(logits, y, reduction="sum"))
        c1, c5 = topk_correct(logits, y)
        top1, top5, n = top1 + float(c1), top5 + float(c5), n + len(y)
    model.train(was_training)
    loss, top1, top5, n = all_sum([loss, top1, top5, n], info, device)
    if not n:
        return {"loss": float("nan"), "top1": float("nan"), "top5": float("nan"), "n": 0}
    return {"loss": loss / n, "top1": 100 * top1 / n, "top5": 100 * top5 / n, "n": int(n)}


def _reraise_worker_errors(loader: Any):
    """DataLoader workers re-raise errors as "Caught DataError in DataLoader worker..."; keep the message."""
    try:
        yield from loader
    except UserError as exc:
        text = str(exc)
        if text.startswith("Caught "):
            last = [ln for ln in text.splitlines() if ln.strip()][-1]
            raise type(exc)(last.split(": ", 1)[-1]) from None
        raise


def _build_model(config: TrainConfig, classes: list[str], channels: int, input_size: int) -> tuple[nn.Module, dict]:
    info = model_info(config.model)
    kwargs = dict(config.model_kwargs)
    if "num_classes" in kwargs and int(kwargs["num_classes"]) != len(classes):
        raise UserError(f"the model was asked for {kwargs['num_classes']} classes but dataset {config.dataset!r} "
                        f"has {len(classes)}; drop --num-classes (it is taken from the data)")
    kwargs["num_classes"] = len(classes)
    if "in_channels" in kwargs and int(kwargs["in_channels"]) != channels:
        raise UserError(f"in_channels={kwargs['in_channels']} but the images are loaded with {channels} channels; "
                        "drop --in-channels (it is taken from the data)")
    kwargs["in_channels"] = channels
    if input_size < 100 and info.input_size >= 100:
        kwargs.setdefault("small_input", True)  # 28x28 / 32x32 data: the small-image stem
    check_fits_in_memory(config.model, kwargs)
    from ..weights.checkpoint import check_step_memory

    check_step_memory(config.model, kwargs, batch=config.batch_size, channels=channels, size=input_size,
                      hint="use a smaller --input-size or --batch-size")
    model = create_model(config.model, **kwargs)
    if config.init_from:
        init_from_pretrained(model, config, len(classes), channels)
    return model, kwargs


def aux_head_names(model: nn.Module) -> list[str]:
    """``aux1``, ``aux2``, ...: one per auxiliary head the model declares and built (interface.py), in the
    order its outputs return them; the names of their losses in the log (``train_aux1_loss``)."""
    layers = model.aux_classifier_layers() if hasattr(model, "aux_classifier_layers") else {}
    return [f"aux{i}" for i in range(1, len(layers) + 1)]


def init_from_pretrained(model: nn.Module, config: TrainConfig, num_classes: int, channels: int) -> None:
    """Load ``config.init_from`` into ``model``. A model file of another class count (an ImageNet model
    fine-tuned on your photos) gives its trunk; the classifiers, auxiliary ones too, start afresh."""
    loaded = load_model(config.init_from)
    pretrained = loaded.model
    theirs_channels = int(loaded.preprocessing.channels or getattr(pretrained, "in_channels", channels))
    if theirs_channels != channels:
        raise DataError(f"{config.init_from!r} takes {theirs_channels}-channel images but the data is loaded with "
                        f"{channels}; pass --in-channels {theirs_channels} to convert the images (grey <-> RGB)")
    if loaded.num_classes != num_classes:
        if not hasattr(pretrained, "reset_classifier"):
            raise DataError(f"{config.init_from!r} predicts {loaded.num_classes} classes, the data has {num_classes}, "
                            "and its model cannot replace its classifier; train from scratch")
        pretrained.reset_classifier(num_classes)
        print(f"googlenet: note: {Path(config.init_from).name} predicts {loaded.num_classes} classes, "
              f"{config.dataset} has {num_classes}: new classifiers ({', '.join(model.classifier_layers())}), "
              "the rest pretrained", flush=True)
    own, theirs = model.state_dict(), pretrained.state_dict()
    bad = [k for k in own if k not in theirs or theirs[k].shape != own[k].shape]
    if bad:
        raise DataError(f"checkpoint {config.init_from!r} does not fit {config.model} with {config.model_kwargs} "
                        f"({len(bad)} weights differ, e.g. {bad[0]}); use the options it was built with "
                        f"({loaded.model_name}, {loaded.model_kwargs})")
    model.load_state_dict(theirs)


def head_parameters(model: nn.Module) -> set[int]:
    """ids of the parameters of the classifiers and of the auxiliary heads (what fine-tuning trains first)."""
    return {id(p) for head in model.head_modules() for p in head.parameters()}


def set_frozen(model: nn.Module, frozen: bool) -> None:
    """Freeze (or thaw) everything but the heads. Frozen batch norms run in eval mode: their running
    statistics are the pretrained ones and must not drift toward a few batches of the new data."""
    heads = head_parameters(model)
    for p in model.parameters():
        if id(p) not in heads:
            p.requires_grad_(not frozen)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and not any(id(p) in heads for p in m.parameters()):
            m.eval() if frozen else m.train(model.training)


def _eval_fraction(c: TrainConfig) -> float:
    """The part of the image evaluation reads: all of it where training read all of it (``augment none``, as
    the in-memory small-image path does), else the centre ``eval_crop``."""
    return 1.0 if c.augment == "none" else c.eval_crop


#: The steps after which training prints its estimate of an epoch's time.
ESTIMATE_AFTER_STEPS = 5
#: Steps left out of that estimate: the first ones build oneDNN's kernels and warm the caches (on the 2-core
#: Zen 4 host the first 5 steps of the photos recipe took 2.55 s each, the epoch's steps 0.82 s).
WARMUP_STEPS = 2
#: Bytes a parameter costs in training at the least: fp32 weights, gradients, momentum and the averaged copy.
TRAINING_BYTES_PER_PARAMETER = 16


def check_fits_in_memory(name: str, kwargs: dict[str, Any]) -> None:
    """Refuse, before allocating anything, a model whose weights and optimizer state alone exceed the
    machine's memory (e.g. ``--width 100``: 70 billion parameters), instead of being killed by the kernel.
    The same estimate as loading a model file (weights/checkpoint.py)."""
    from ..weights.checkpoint import check_fits_in_memory as check

    width = kwargs.get("width")
    check(name, kwargs, bytes_per_parameter=TRAINING_BYTES_PER_PARAMETER, needs="training",
          hint=f"use a smaller --width than {width}" if width else "use a smaller model or --width")


def _probe_size(dataset: ImageDataset) -> int:
    """Input size for a folder of images: their side when the first few are all small (<= 64), else 224."""
    sides = [max(dataset[i][0].shape[-2:]) for i in range(min(8, len(dataset)))]
    return int(max(sides)) if sides and max(sides) <= 64 else 224


def default_run_dir(config: TrainConfig) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{Path(str(config.dataset)).name}-{config.model}-{stamp}"


def train(config: TrainConfig | None = None, *, resume: str | Path | None = None,
          on_step: Callable[[int], None] | None = None, quiet: bool = False, force: bool = False,
          **overrides: Any) -> dict[str, Any]:
    """Train per ``config`` (or ``make_config(**overrides)``); returns the run's summary dict.

    ``resume``: a run folder written earlier; its config.json is used, with ``epochs``, ``max_steps``,
    ``device``, ``workers``, ``threads``, ``lr`` and ``grad_clip`` from ``overrides`` allowed to change.
    ``on_step(global_step)`` is called after every optimizer step. ``force``: write the run into an ``out``
    folder that holds files and is not a run (docs/robustness.md); without it such a folder is refused before
    any work.
    """
    if resume is not None:
        run_dir = Path(resume)
        cfg_path = run_dir / records.CONFIG
        if not (run_dir / STATE_FILE).is_file() or not cfg_path.is_file():
            raise DataError(f"no checkpoint to resume in {str(run_dir)!r} (needs {records.CONFIG} and {STATE_FILE}); "
                            "pass the run folder of an earlier `googlenet train`")
        try:
            saved = json.loads(cfg_path.read_text())
            if not isinstance(saved, dict):
                raise ValueError
        except (ValueError, UnicodeDecodeError):
            raise DataError(f"{str(cfg_path)!r} is not the JSON settings `googlenet train` wrote (damaged?); "
                            "start a new run, with --init-from "
                            f"{run_dir / MODEL_FILE} to keep the weights") from None
        saved = {k: check_setting(k, v, str(cfg_path)) for k, v in saved.items() if k in FIELDS}
        allowed = {"epochs", "max_steps", "device", "workers", "threads", "lr", "grad_clip"}
        changed = {k: v for k, v in overrides.items() if v is not None}
        extra = sorted(set(changed) - allowed)
        if extra:
            raise UserError(f"--resume continues the saved settings; {', '.join(extra)} cannot change "
                            f"(only {', '.join(sorted(allowed))}); start a new run to change them")
        changed = {k: check_setting(k, v) for k, v in changed.items()}
        config = TrainConfig(**{**saved, **changed})
        validate_config(config)
        config.out = str(run_dir)
    elif config is None:
        config = make_config(**overrides)
    elif overrides:
        config = make_config(**{**config.to_dict(), **overrides})
    return Trainer(config, resume=resume is not None, on_step=on_step, quiet=quiet, force=force).run()


class Trainer:
    def __init__(self, config: TrainConfig, *, resume: bool = False, on_step: Callable[[int], None] | None = None,
                 quiet: bool = False, force: bool = False) -> None:
        self.config, self.resume, self.on_step, self.quiet = config, resume, on_step, quiet
        self.force = force
        self._signal: int | None = None

    # -- set-up ---------------------------------------------------------------------------------------
    def _setup(self) -> None:
        """Device and precision, the run folder, the data and their batch path, then the model and its
        optimizer; in this order, since each seeds or draws from torch's RNG as a resumed run expects."""
        c = self.config
        self._setup_device()
        self.run_dir = Path(c.out) if c.out else default_run_dir(c)
        if not self.resume:  # before any work: a folder of the user's files is never overwritten
            if (self.run_dir / STATE_FILE).exists():
                raise UserError(f"run folder {str(self.run_dir)!r} already holds a run; continue it with --resume "
                                f"{self.run_dir} or pass a new --out folder")
            check_run_dir(self.run_dir, force=self.force)
        torch.manual_seed(c.seed)  # the same initial weights on every process
        channels, input_size, mean, std, hflip = self._setup_data()
        self._estimated = False
        self.tensorboard = None
        if c.tensorboard and self.info.is_main:
            from .tensorboard import TensorBoardLogger

            self.tensorboard = TensorBoardLogger(self.run_dir)
        self._setup_batches(input_size, mean, std, hflip)
        self.view = SeededView(self.train_set, c.seed)
        self.sampler = DistributedSampler(self.view, num_replicas=self.info.world_size, rank=self.info.rank,
                                          shuffle=True, seed=c.seed, drop_last=True)
        self._setup_model(channels, input_size)

    def _setup_device(self) -> None:
        """Threads, torchrun, the device, each process's batch, mixed precision, memory format, workers."""
        c = self.config
        if c.threads:
            torch.set_num_threads(c.threads)  # restored in run()
        wanted = c.device if c.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
        self.info = setup(torch.device(wanted.split(":")[0] if wanted != "auto" else "cpu").type)
        self.device = pick_device(c.device, self.info)
        if c.batch_size % self.info.world_size:
            raise UserError(f"batch size {c.batch_size} does not split over {self.info.world_size} processes; "
                            f"use a multiple of {self.info.world_size}")
        self.local_batch = c.batch_size // self.info.world_size
        cuda = self.device.type == "cuda"
        amp_on = c.amp == "on" or (c.amp in ("auto", "native") and cuda) or (
            c.amp == "native" and self.device.type == "cpu" and cpu_has_native_bf16())
        amp_dtype = torch.bfloat16 if (not cuda or torch.cuda.is_bf16_supported()) else torch.float16
        self.amp = (amp_on, amp_dtype)
        self.scaler = torch.amp.GradScaler("cuda", enabled=amp_on and amp_dtype == torch.float16)
        self.channels_last = c.channels_last == "on"
        self.workers = c.workers if c.workers is not None else (min(8, os.cpu_count() or 1) if cuda else 0)

    def _setup_data(self) -> tuple[int, int, Sequence[float], Sequence[float], bool]:
        """The splits with their transforms, the preprocessing a model file records, the skipped files;
        returns the channels, input side, mean, std and flip the batch path needs."""
        c = self.config
        stats = dataset_stats(c.dataset, data_dir=c.data_dir)
        channels = int(c.model_kwargs.get("in_channels") or stats.channels)
        common = dict(data_dir=c.data_dir, channels=channels, val_fraction=c.val_fraction, split_seed=c.split_seed,
                      skip_bad_images=c.skip_bad_images, download=c.download)
        self.train_set: ImageDataset = load_dataset(c.dataset, "train", **common)
        input_size = int(c.input_size or stats.image_size or _probe_size(self.train_set))
        pre = stats.preprocessing(input_size, channels)
        if c.init_from:  # fine-tuning keeps the normalization the weights learned with (config's note says so)
            pre = self._source_normalization(pre, channels)
        mean, std = pre.mean, pre.std
        hflip = stats.hflip if c.hflip is None else c.hflip
        self.sizes = parse_sizes(c.resize_schedule) if c.resize_schedule else [input_size]
        aug = train_transform(c.augment, input_size=input_size, mean=mean, std=std, channels=channels, pad=c.pad,
                              color_jitter=c.color_jitter, crops=RandomCrops((c.crop_scale, 1.0), hflip=hflip))
        ev = eval_transform(input_size=input_size, mean=mean, std=std, native_size=stats.image_size,
                            crop_fraction=_eval_fraction(c))
        self.train_set.transform = aug
        self.val_set = self._optional_split("val", ev, common)
        self.test_set = self._optional_split("test", ev, common) if c.eval_test else None
        self.classes = list(self.train_set.classes)
        # photos: googlenet eval / predict resize as the trainer's evaluation did
        resize = pre.resize if stats.image_size else int(round(input_size / _eval_fraction(c)))
        dataset = stats.name if is_small_image_dataset(stats.name) else Path(str(c.dataset)).name
        self.preprocessing = replace(pre, resize=resize, dataset=dataset, source="googlenet train")
        skipped = [*self.train_set.skipped, *(self.val_set.skipped if self.val_set else []),
                   *(self.test_set.skipped if self.test_set else [])]
        self.skipped = sorted(set(skipped))
        return channels, input_size, mean, std, hflip

    def _setup_batches(self, input_size: int, mean: Sequence[float], std: Sequence[float], hflip: bool) -> None:
        """The batch path without a DataLoader where the data allow it (fastdata.py): the photo cache, or
        images held in memory; otherwise ``self.fast`` stays None and a DataLoader feeds the loop."""
        c = self.config
        self.fast = self.val_fast = self.test_fast = None
        if c.augment in ("photo", "flip", "none") and PhotoBatches.eligible(self.train_set):
            self._photo_batches(input_size, mean, std, hflip)
        elif TensorBatches.eligible(self.train_set, c.augment, input_size):
            self.fast = TensorBatches(self.train_set, augment=c.augment == "small", pad=c.pad, hflip=hflip,
                                      mean=mean, std=std, seed=c.seed)
            self.val_fast, self.test_fast = (
                TensorBatches(d, augment=False, pad=0, hflip=False, mean=mean, std=std, seed=c.seed)
                if d is not None and TensorBatches.eligible(d, "none", input_size) else None
                for d in (self.val_set, self.test_set))

    def _setup_model(self, channels: int, input_size: int) -> None:
        """The model on its device (plain: what is saved and averaged), its average, the wrapped ``net``
        that trains (DDP, compile), the optimizer and the schedule; the auxiliary heads it declares."""
        c = self.config
        model, self.model_kwargs = _build_model(c, self.classes, channels, input_size)
        self.steps_per_epoch = len(self.sampler) // self.local_batch
        if self.steps_per_epoch < 1:
            raise UserError(f"batch size {c.batch_size} is larger than the {len(self.train_set)} training images; "
                            "use a smaller --batch-size")
        if c.sync_bn and self.info.enabled:
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        model = model.to(self.device)
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        self.model = model
        self.aux_names = aux_head_names(model)
        self.ema = None
        if c.ema_decay:
            from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

            self.ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(c.ema_decay), use_buffers=True)
        net: nn.Module = model
        if self.info.enabled:
            from torch.nn.parallel import DistributedDataParallel as DDP

            net = DDP(model, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        if c.compile:
            net = torch.compile(net)
        self.net = net
        torch.manual_seed(c.seed + self.info.rank)  # dropout masks differ between processes
        self.opt = build_optimizer(self._param_groups(model), c)
        self.sched = torch.optim.lr_scheduler.LambdaLR(self.opt, self._schedule())

    def _param_groups(self, model: nn.Module) -> list[dict[str, Any]]:
        """One group, or with --init-from and --backbone-lr-mult the pretrained layers at a lower rate."""
        c = self.config
        if not c.init_from or c.backbone_lr_mult == 1.0:
            return [{"params": list(model.parameters())}]
        heads = head_parameters(model)
        backbone = [p for p in model.parameters() if id(p) not in heads]
        head = [p for p in model.parameters() if id(p) in heads]
        return [{"params": backbone, "lr": c.lr * c.backbone_lr_mult}, {"params": head, "lr": c.lr}]

    def _schedule(self) -> Schedule:
        c = self.config
        # --time-budget plans a number of steps that may end inside an epoch (training/budget.py).
        return Schedule(c.schedule, self.steps_per_epoch, c.epochs, c.warmup_epochs, c.lr_step_epochs, c.lr_gamma,
                        c.flat_fraction, total_steps=c.max_steps if c.time_budget else None)

    def _source_normalization(self, pre: Any, channels: int) -> Any:
        """``pre`` with the mean and std the ``init_from`` weights were trained with, where they fit the data."""
        kept = source_normalization(read_model_metadata(resolve_model_path(self.config.init_from))["preprocessing"])
        if kept and len(kept[0]) == len(kept[1]) == channels:
            return replace(pre, mean=tuple(kept[0]), std=tuple(kept[1]))
        return pre

    def _optional_split(self, split: str, transform: Any, common: dict) -> ImageDataset | None:
        c = self.config
        try:
            ds = load_dataset(c.dataset, split, transform=transform, **common)
        except MissingSplit:  # a folder without test/: no test figures
            return None
        return ds if len(ds) else None

    def _estimate(self, seconds: float, steps: int, side: int) -> None:
        """One line, once per run, after the first steps (the warm-up ones left out): how long an epoch will
        take at this speed."""
        self._estimated = True
        if not (self.info.is_main and not self.quiet):
            return
        c = self.config
        per_epoch = seconds / steps * self.steps_per_epoch
        rate = steps * c.batch_size / seconds
        planned = c.epochs * self.steps_per_epoch
        if c.max_steps is not None and c.max_steps < planned:  # the run stops there: time those steps
            run = f"--max-steps {c.max_steps}: about {seconds / steps * c.max_steps / 60:.1f} min"
        else:
            run = f"{c.epochs} epochs: about {per_epoch * c.epochs / 60:.0f} min"
        timed = f"steps {WARMUP_STEPS + 1}-{WARMUP_STEPS + steps}"
        print(f"googlenet: about {per_epoch:.0f} s per epoch at {side} px ({rate:.0f} img/s over {timed}); {run}",
              flush=True)

    def _plan_budget(self, step_s: float, side: int | None = None, epoch_eval_s: float | None = None) -> None:
        """Fit the run into --time-budget (training/budget.py): set the step and epoch counts and a linear
        schedule that reaches 0 at the last step. The first plan (after the first steps, evaluation time
        estimated) is printed at ``side`` px; the re-plan after each epoch, with its measured evaluation time,
        only adjusts it."""
        from .budget import eval_seconds, parse_duration, plan

        c = self.config
        first = epoch_eval_s is None
        n_val = len(self.val_set) if self.val_set is not None else 0
        n_test = len(self.test_set) if self.test_set is not None else 0
        if first:
            epoch_eval_s = eval_seconds(n_val, self.local_batch, step_s)
        # Under torchrun every process plans from the slowest one's figures, so all stop at the same step.
        step_s, epoch_eval_s, elapsed = all_max([step_s, epoch_eval_s, self.elapsed()], self.info, self.device)
        budget = plan(parse_duration(c.time_budget), elapsed_s=elapsed, steps_done=self.global_step,
                      step_s=step_s, steps_per_epoch=self.steps_per_epoch, epoch_eval_s=epoch_eval_s,
                      final_eval_s=eval_seconds(n_test, self.local_batch, step_s), can_stop_now=not first)
        c.max_steps, c.epochs, c.schedule = budget.total_steps, budget.epochs, "linear"
        self.sched.lr_lambdas = [self._schedule() for _ in self.opt.param_groups]
        if first and self.info.is_main and not self.quiet:
            print(budget.line(side), flush=True)

    def _photo_batches(self, input_size: int, mean: Sequence[float], std: Sequence[float], hflip: bool) -> None:
        """Photos decoded once into a cache (data/cache.py), augmented as uint8 batches (data/augment.py)."""
        from ..data.cache import open_cache

        c = self.config
        log = print if (self.info.is_main and not self.quiet) else None
        options = dict(cache_dir=None, max_bytes=None if c.cache else 0, log=log)
        # Train: stored 1/8 above the largest training side, so a full-image crop is resized down, not up;
        # ``flip`` and ``none`` feed the whole photo, so it is stored at the largest side itself.
        largest = max(self.sizes + [input_size])
        train_side = largest if c.augment in ("flip", "none") else int(round(largest * 1.125))
        store = open_cache(self.train_set, train_side, **options)
        crops = (RandomCrops((1.0, 1.0), (1.0, 1.0), hflip) if c.augment == "flip"
                 else RandomCrops((c.crop_scale, 1.0), hflip=hflip))
        self.fast = PhotoBatches(self.train_set, store, out_size=self.sizes[0],
                                 augment=crops if c.augment != "none" else False, mean=mean, std=std, seed=c.seed,
                                 crop=None if c.augment != "none" else input_size)
        # Evaluation: a single crop, the centre eval_crop of the image resized to input_size (0.875: the usual).
        eval_side = int(round(input_size / _eval_fraction(c)))
        self.val_fast, self.test_fast = (
            PhotoBatches(d, open_cache(d, eval_side, **options), out_size=input_size, augment=False, mean=mean,
                         std=std, seed=c.seed, crop=input_size) if d is not None and PhotoBatches.eligible(d) else None
            for d in (self.val_set, self.test_set))

    # -- checkpoints ----------------------------------------------------------------------------------
    def _non_finite(self, what: str, epoch: int, step: int) -> str:
        """The one line for a loss (or weights) that became NaN or infinite (``what``): where, the last good
        checkpoint, the likely cause."""
        c = self.config
        saved = getattr(self, "_saved_at", None)
        if saved is not None:
            good = (f"the last good checkpoint (epoch {saved[0]}, step {saved[1]}) is kept in {self.run_dir}: "
                    f"continue it with --resume {self.run_dir} --lr {c.lr / 10:g}")
        else:
            good = f"no checkpoint was written yet: start again with --lr {c.lr / 10:g}"
        return (f"{what} at epoch {epoch + 1} step {step} (global step {self.global_step + 1}), "
                f"so training stopped before that step; the likely cause is a learning rate too high (--lr {c.lr:g}"
                f"{'' if c.grad_clip else ', no --grad-clip'}); {good} (or add --grad-clip 2.0)")

    def _save(self, epoch: int, step_in_epoch: int, sums: dict[str, float], epoch_time: float) -> None:
        if not self.info.is_main:
            return
        c = self.config
        bad = sum(not bool(torch.isfinite(t).all()) for t in self.model.state_dict().values() if t.is_floating_point())
        if bad:  # never replace a good checkpoint by weights that are NaN or infinite
            where = (epoch, step_in_epoch) if step_in_epoch else (epoch - 1, self.steps_per_epoch)
            raise UserError(self._non_finite(f"{bad} weight tensors became non-finite", *where))
        meta = dict(model_name=c.model, model_kwargs=self.model_kwargs, class_names=self.classes,
                    preprocessing=self.preprocessing)
        extra = {"epoch": epoch, "step_in_epoch": step_in_epoch, "global_step": self.global_step,
                 "recipe": c.recipe, "dataset": str(c.dataset)}
        save_model(self.run_dir / LAST_FILE, self.model, extra={**extra, "weights": "trained"}, **meta)
        eval_model = self.ema.module if self.ema is not None else self.model
        save_model(self.run_dir / MODEL_FILE, eval_model,
                   extra={**extra, "weights": "averaged" if self.ema is not None else "trained"}, **meta)
        state = {
            "format": STATE_FORMAT,
            "epoch": epoch, "step_in_epoch": step_in_epoch, "global_step": self.global_step,
            "optimizer": self.opt.state_dict(), "scheduler": self.sched.state_dict(),
            "scaler": self.scaler.state_dict(),
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "rng": {"torch": torch.get_rng_state(),
                    "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []},
            "sums": dict(sums), "epoch_time": epoch_time, "elapsed": self.elapsed(),
            "world_size": self.info.world_size,
        }
        save_training_state(self.run_dir / STATE_FILE, state)
        self._saved_at = (epoch, step_in_epoch)

    def _load(self) -> tuple[int, int, dict[str, float], float]:
        from safetensors.torch import load_file

        state = load_training_state(self.run_dir / STATE_FILE)
        if state.get("format") != STATE_FORMAT:
            raise DataError(f"{str(self.run_dir / STATE_FILE)!r} is not a googlenet training state; start a new run")
        # A finished run without weight averaging keeps one copy of its weights, model.safetensors (_finish).
        last = self.run_dir / (LAST_FILE if (self.run_dir / LAST_FILE).exists() or self.ema is not None else MODEL_FILE)
        try:
            weights = load_file(str(last), device=str(self.device))
        except Exception:  # truncated, or not a safetensors file at all (never unpickled)
            raise DataError(f"{str(last)!r} is damaged or not a safetensors model file; "
                            "the run cannot continue: start a new run (with --init-from "
                            f"{self.run_dir / MODEL_FILE} if that file is sound)") from None
        own = self.model.state_dict()
        if set(weights) != set(own) or any(weights[k].shape != own[k].shape for k in own):
            raise DataError(f"{str(last)!r} does not fit the configured model (different "
                            "classes or options?); resume with the same data and settings or start a new run")
        self.model.load_state_dict(weights)
        self.opt.load_state_dict(state["optimizer"])
        self.sched.load_state_dict(state["scheduler"])
        # LambdaLR's state holds the Schedule's attributes, the old epoch count among them: put back the
        # configured schedule, so a resumed run with other --epochs follows the new length from here on.
        self.sched.lr_lambdas = [self._schedule() for _ in self.opt.param_groups]
        # --lr may change on resume (after a non-finite loss): the base rates are the configured ones.
        self.sched.base_lrs = [g.get("lr", self.config.lr) for g in self._param_groups(self.model)]
        for group, base_lr, factor in zip(self.opt.param_groups, self.sched.base_lrs, self.sched.lr_lambdas,
                                          strict=True):
            group["lr"] = base_lr * factor(self.sched.last_epoch)
        self.scaler.load_state_dict(state["scaler"])
        if self.ema is not None and state.get("ema") is not None:
            self.ema.load_state_dict(state["ema"])
        if self.info.is_main or state.get("world_size") == 1:
            torch.set_rng_state(state["rng"]["torch"])
        if state["rng"]["cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["rng"]["cuda"])
        self.global_step = int(state["global_step"])
        self._elapsed_before = float(state["elapsed"])
        self._saved_at = (int(state["epoch"]), int(state["step_in_epoch"]))  # the good checkpoint a NaN names
        return int(state["epoch"]), int(state["step_in_epoch"]), dict(state["sums"]), float(state["epoch_time"])

    def elapsed(self) -> float:
        return self._elapsed_before + time.perf_counter() - self._t0

    # -- signals --------------------------------------------------------------------------------------
    def _install_signals(self) -> dict:
        if threading.current_thread() is not threading.main_thread():
            return {}

        def handler(signum, frame):  # noqa: ARG001
            if self._signal is not None:  # a second signal: stop now, without a checkpoint
                raise KeyboardInterrupt
            self._signal = signum

        return {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}

    # -- the loop -------------------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        self._t0, self._elapsed_before, self.global_step = time.perf_counter(), 0.0, 0
        threads = torch.get_num_threads()
        try:
            return self._run()
        finally:
            torch.set_num_threads(threads)

    def _run(self) -> dict[str, Any]:
        self._setup()
        c, info = self.config, self.info
        start_epoch, skip, sums, epoch_time = 0, 0, {}, 0.0
        if self.resume:
            start_epoch, skip, sums, epoch_time = self._load()
            done = start_epoch >= c.epochs or (c.max_steps is not None and self.global_step >= c.max_steps)
            if done:
                reason = (f"{start_epoch}/{c.epochs} epochs" if start_epoch >= c.epochs
                          else f"{self.global_step}/{c.max_steps} steps")
                if info.is_main:
                    print(f"googlenet: run {self.run_dir} is finished ({reason}); nothing to train. To train on, "
                          f"resume with more --epochs (or a larger --max-steps)", flush=True)
                teardown(info)
                previous = self.run_dir / records.SUMMARY
                return json.loads(previous.read_text()) if previous.is_file() else {"run_dir": str(self.run_dir)}
        elif info.is_main:
            mark_run_dir(self.run_dir)
            if (self.run_dir / STATE_FILE).exists():
                raise UserError(f"run folder {str(self.run_dir)!r} already holds a run; continue it with --resume "
                                f"{self.run_dir} or pass a new --out folder")
            records.write_json(self.run_dir / records.CONFIG, asdict(c))
            (self.run_dir / records.LOG).unlink(missing_ok=True)
        old_handlers = self._install_signals()
        show = info.is_main and not self.quiet
        try:
            if show and not self.resume:
                for line in getattr(c, "chosen_notes", None) or ():  # what the recipe chose for the data
                    print(line, file=sys.stderr, flush=True)
                n_params = sum(p.numel() for p in self.model.parameters())
                print(f"training {c.model} ({n_params / 1e6:.2f}M parameters, {self.model_kwargs}) on {c.dataset}: "
                      f"{len(self.train_set)} train / {len(self.val_set) if self.val_set else 0} val images, "
                      f"recipe {c.recipe}, {c.epochs} epochs x {self.steps_per_epoch} steps"
                      f"{_max_steps_note(c, self.steps_per_epoch)}, batch {c.batch_size}"
                      f"{f' over {info.world_size} processes' if info.enabled else ''}, device {self.device}; "
                      f"run folder {self.run_dir}", flush=True)
                if self.amp[0] and self.device.type == "cpu" and not cpu_has_native_bf16():
                    print("googlenet: note: --amp on with a CPU without native bf16 (AVX512_BF16 or AMX): bf16 is "
                          "emulated and slower than fp32 here; use --amp off", flush=True)
            stopped = False
            try:
                epoch = start_epoch
                while epoch < c.epochs:  # a --time-budget plan may change c.epochs as it goes
                    stopped = self._epoch(epoch, skip, sums, epoch_time)
                    skip, sums, epoch_time = 0, {}, 0.0
                    epoch += 1
                    if stopped:
                        break
                return self._finish()
            except RuntimeError as exc:
                if info.enabled and is_lost_peer(exc):
                    raise UserError(lost_peer_message(info, self.run_dir)) from None
                raise
        finally:
            for s, h in old_handlers.items():
                signal.signal(s, h)
            teardown(info)

    def _epoch(self, epoch: int, skip: int, sums: dict[str, float], epoch_time: float) -> bool:
        """One epoch from step ``skip`` (a resumed one carries its partial ``sums`` and time): the steps,
        then the checkpoint, log and curves; True when training stops (max steps or a signal)."""
        c, info = self.config, self.info
        loader = self._epoch_batches(epoch, skip)
        keys = ("loss", *self.aux_names, "top1", "top5", "n")
        acc = torch.zeros(len(keys), dtype=torch.float64, device=self.device)
        from tqdm import tqdm

        bar = tqdm(total=self.steps_per_epoch, initial=skip, desc=f"epoch {epoch + 1}/{c.epochs}", unit="step",
                   leave=False, dynamic_ncols=True,
                   disable=not (info.is_main and not self.quiet and sys.stderr.isatty()))
        t_start = time.perf_counter()
        self.net.train()
        self._freeze_for(epoch)
        step = skip
        stop_reason = None
        for x, y in _reraise_worker_errors(loader):
            x, y = self._step(x, y, epoch, step, acc)
            step += 1
            if step - skip == WARMUP_STEPS:
                t_warm = time.perf_counter()
            if step - skip == WARMUP_STEPS + ESTIMATE_AFTER_STEPS and not self._estimated:
                if c.time_budget:
                    self._estimated = True
                    self._plan_budget((time.perf_counter() - t_warm) / ESTIMATE_AFTER_STEPS, x.shape[-1])
                else:
                    self._estimate(time.perf_counter() - t_warm, ESTIMATE_AFTER_STEPS, x.shape[-1])
            if step % 20 == 0 or step == self.steps_per_epoch:
                bar.set_postfix(loss=f"{float(acc[0] / acc[-1]):.3f}", top1=f"{float(100 * acc[-3] / acc[-1]):.1f}%",
                                refresh=False)
            bar.update(1)
            if self.on_step is not None:
                self.on_step(self.global_step)
            if c.max_steps is not None and self.global_step >= c.max_steps:
                stop_reason = "max_steps"
            if any_flag(self._signal is not None, info, self.device):
                stop_reason = "signal"
            if stop_reason:
                break
        bar.close()
        epoch_time += time.perf_counter() - t_start
        part = dict(zip(keys, acc.tolist(), strict=True))
        totals = {k: sums.get(k, 0.0) + part[k] for k in keys}
        self._end_epoch(epoch, step, totals, epoch_time, stop_reason)
        if c.time_budget and step > skip and stop_reason is None:
            # Re-plan with this epoch's measured times: its steps, and all that follows them (evaluation,
            # checkpoint, log and curves), which the next epochs will spend again.
            self._plan_budget(epoch_time / max(1, step - skip), epoch_eval_s=time.perf_counter() - self._t_epoch_end)
        return stop_reason is not None

    def _epoch_batches(self, epoch: int, skip: int) -> Any:
        """This epoch's batches from step ``skip``: the order is the sampler's permutation for ``epoch``."""
        c = self.config
        if isinstance(self.fast, PhotoBatches):  # progressive resizing: this epoch's input side
            self.fast.out_size = self.sizes[min(epoch, len(self.sizes) - 1)]
        self.view.epoch = epoch
        self.sampler.set_epoch(epoch)
        order = list(self.sampler)
        lb = self.local_batch
        batches = [order[k * lb:(k + 1) * lb] for k in range(self.steps_per_epoch)]
        if self.fast is not None:  # in-memory data: batched augmentation, no loader (fastdata.py)
            return (self.fast.batch(b, epoch) for b in batches[skip:])
        # Its own generator: creating a loader iterator otherwise draws from the global RNG (the one dropout
        # uses), and a resumed run would then see different dropout masks.
        return DataLoader(self.view, batch_sampler=batches[skip:], num_workers=self.workers,
                          pin_memory=self.device.type == "cuda", persistent_workers=False,
                          generator=torch.Generator().manual_seed(c.seed + epoch))

    def _freeze_for(self, epoch: int) -> None:
        """``--freeze features``: only the heads train until ``--unfreeze-epoch``."""
        c = self.config
        if c.freeze != "features":
            return
        frozen = c.unfreeze_epoch is None or epoch < c.unfreeze_epoch
        set_frozen(self.model, frozen)
        if self.info.is_main and not self.quiet and (epoch == 0 or epoch == c.unfreeze_epoch):
            print(f"googlenet: epoch {epoch + 1}: {'only the classifiers train' if frozen else 'all layers train'}",
                  flush=True)

    def _step(self, x: torch.Tensor, y: torch.Tensor, epoch: int, step: int,
              acc: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One optimizer step on batch ``(x, y)``; adds its summed losses (main, then each auxiliary head
        the model declares), top-1 and top-5 hits and image count to ``acc``. Returns the batch on the device."""
        c = self.config
        x, y = x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(self.device.type, dtype=self.amp[1], enabled=self.amp[0]):
            parts = training_loss(self.net(x), y, aux_weight=c.aux_weight, label_smoothing=c.label_smoothing)
            loss, main, main_loss, aux_losses = parts.total, parts.logits, parts.main, parts.aux
        if not bool(torch.isfinite(loss.detach())):  # before the step: the weights stay the last good ones
            raise UserError(self._non_finite(f"the loss became {float(loss.detach())}", epoch, step + 1))
        self.opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if c.grad_clip:
            self.scaler.unscale_(self.opt)
            nn.utils.clip_grad_norm_(self.model.parameters(), c.grad_clip)
        self.scaler.step(self.opt)
        self.scaler.update()
        self.sched.step()
        if self.ema is not None:
            self.ema.update_parameters(self.model)
        self.global_step += 1
        with torch.no_grad():
            c1, c5 = topk_correct(main.detach().float(), y)
            n = len(y)
            zero = torch.zeros((), device=self.device)
            aux_vals = [a.detach() * n for a in aux_losses][:len(self.aux_names)]
            aux_vals += [zero] * (len(self.aux_names) - len(aux_vals))
            acc += torch.stack([main_loss.detach() * n, *aux_vals, c1, c5,
                                torch.tensor(n, device=self.device)]).double()
        return x, y

    def _end_epoch(self, epoch: int, step: int, totals: dict[str, float], epoch_time: float,
                   stop_reason: str | None) -> None:
        """After the steps: a checkpoint (mid-epoch on a signal, then TrainingInterrupted), else evaluation,
        the checkpoint, TensorBoard, the log line and curves."""
        c, info = self.config, self.info
        keys = list(totals)
        totals_all = dict(zip(keys, all_sum([totals[k] for k in keys], info, self.device), strict=True))
        if stop_reason == "signal" and step < self.steps_per_epoch:
            self._save(epoch, step, totals, epoch_time)
            if info.is_main:
                print(f"googlenet: interrupted at epoch {epoch + 1} step {step}/{self.steps_per_epoch}; checkpoint "
                      f"saved in {self.run_dir}; continue with: {resume_command(self.run_dir, info)}",
                      file=sys.stderr, flush=True)
            raise TrainingInterrupted(self.run_dir, epoch, step)
        self._t_epoch_end = time.perf_counter()
        row = self._epoch_row(epoch, step, totals_all, epoch_time)
        done_epoch = step >= self.steps_per_epoch
        self._save(epoch + 1 if done_epoch else epoch, 0 if done_epoch else step, {} if done_epoch else totals,
                   0.0 if done_epoch else epoch_time)
        if self.tensorboard is not None:
            scalars = {k: v for k, v in row.items() if isinstance(v, (int, float))}
            self.tensorboard.log_scalars(self.global_step, scalars)
        if info.is_main:
            records.append_log(self.run_dir, row)
            records.plot_curves(self.run_dir, records.read_log(self.run_dir),
                                title=f"{c.model} on {Path(str(c.dataset)).name} ({c.recipe})")
            if not self.quiet:
                val = f"  val top-1 {row['val_top1']:.2f}%" if row.get("val_top1") is not None else ""
                print(f"epoch {epoch + 1}/{c.epochs}  loss {row['train_loss']:.4f}  train top-1 "
                      f"{row['train_top1']:.2f}%{val}  lr {row['lr']:.4g}  {row['images_per_s']:.0f} img/s  "
                      f"{row['epoch_time_s']:.1f} s", flush=True)
        if stop_reason == "signal":
            raise TrainingInterrupted(self.run_dir, epoch + 1, 0)

    def _eval_model(self) -> nn.Module:
        return self.ema.module if self.ema is not None else self.model

    def _run_settings(self) -> RunSettings:
        return RunSettings(self.info, self.channels_last, self.amp, self.workers)

    def _epoch_row(self, epoch: int, step: int, t: dict[str, float], epoch_time: float) -> dict[str, Any]:
        n = max(t["n"], 1.0)
        row: dict[str, Any] = {
            "epoch": epoch + 1, "steps": step, "global_step": self.global_step,
            "lr": self.opt.param_groups[0]["lr"], "train_loss": t["loss"] / n,
            **{f"train_{name}_loss": t[name] / n if t[name] else None for name in self.aux_names},
            "train_top1": 100 * t["top1"] / n, "train_top5": 100 * t["top5"] / n,
        }
        if self.val_set is not None:
            v = validate(self._eval_model(), self.val_set, batch_size=max(self.local_batch, 256), device=self.device,
                         fast=self.val_fast, settings=self._run_settings())
            row.update(val_loss=v["loss"], val_top1=v["top1"], val_top5=v["top5"])
        row.update(images_per_s=t["n"] / max(epoch_time, 1e-9), epoch_time_s=epoch_time, wall_time_s=self.elapsed())
        return without_top5(row, len(self.classes))

    def _finish(self) -> dict[str, Any]:
        c, info = self.config, self.info
        summary: dict[str, Any] = {
            "run_dir": str(self.run_dir), "model": c.model, "model_kwargs": self.model_kwargs,
            "dataset": str(c.dataset), "recipe": c.recipe, "epochs": c.epochs, "global_step": self.global_step,
            "world_size": info.world_size, "device": str(self.device),
            "skipped_images": len(self.skipped), "skipped_files": [f for f, _ in self.skipped][:100],
        }
        rows = records.read_log(self.run_dir) if info.is_main else []
        if rows:
            summary.update({k: rows[-1].get(k) for k in ("val_top1", "val_top5", "train_top1")})
        if self.test_set is not None:
            t0 = time.perf_counter()
            r = validate(self._eval_model(), self.test_set, batch_size=max(self.local_batch, 256), device=self.device,
                         fast=self.test_fast, settings=self._run_settings())
            summary.update(test_loss=r["loss"], test_top1=r["top1"], test_top5=r["top5"], test_images=r["n"],
                           test_eval_s=time.perf_counter() - t0)
        summary["wall_time_s"] = self.elapsed()
        summary = without_top5(summary, len(self.classes))
        if info.is_main:
            if self.ema is None:  # model.safetensors holds the trained weights: one copy is enough (resume reads it)
                (self.run_dir / LAST_FILE).unlink(missing_ok=True)
            records.write_json(self.run_dir / records.SUMMARY, summary)
            if not self.quiet:
                print(summary_line(summary), flush=True)
        if self.tensorboard is not None:
            self.tensorboard.close()
        return summary


def _max_steps_note(c: TrainConfig, steps_per_epoch: int) -> str:
    """`` (stops at --max-steps 40)`` when --max-steps ends the run before its epochs do, else ``""``."""
    return f" (stops at --max-steps {c.max_steps})" if c.max_steps and c.max_steps < c.epochs * steps_per_epoch else ""


def without_top5(values: dict[str, Any], num_classes: int) -> dict[str, Any]:
    """``values`` without its top-5 figures when there are 5 classes or fewer: top-5 is then 100% by construction,
    so the console, summary.json, log.jsonl (hence curves, report) and TensorBoard leave it out."""
    return values if num_classes > 5 else {k: v for k, v in values.items() if not k.endswith("top5")}


def summary_line(s: dict[str, Any]) -> str:
    parts = [f"{s['model']} on {Path(s['dataset']).name}"]
    if s.get("test_top1") is not None:
        top5 = f" top-5 {s['test_top5']:.2f}%" if s.get("test_top5") is not None else ""
        parts.append(f"test top-1 {s['test_top1']:.2f}%{top5} ({s['test_images']} images)")
    elif s.get("val_top1") is not None:
        parts.append(f"val top-1 {s['val_top1']:.2f}%")
    parts.append(f"{s['global_step']} steps in {s['wall_time_s']:.0f} s")
    if s.get("skipped_images"):
        parts.append(f"{s['skipped_images']} unreadable images skipped")
    parts.append(f"model: {Path(s['run_dir']) / MODEL_FILE}")
    return "done: " + " | ".join(parts)

"""Every setting of ``googlenet serve`` in one place, with its default and its range check.

The CLI builds a :class:`ServeSettings` from its flags; with ``--workers N`` it travels to each worker
process as JSON in ``$GOOGLENET_SERVE_SETTINGS`` (:meth:`ServeSettings.to_json`), so a worker rebuilds
exactly the server its parent was asked for.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields

from ..errors import UserError

#: The environment variable a token may come from instead of ``--token`` (a flag shows in ``ps``).
TOKEN_ENV = "GOOGLENET_SERVE_TOKEN"
#: Where worker processes read their settings (``--workers N``).
SETTINGS_ENV = "GOOGLENET_SERVE_SETTINGS"
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


@dataclass
class ServeSettings:
    """What ``googlenet serve`` runs and the limits it enforces (docs/serving.md "Settings")."""

    model: str
    backend: str = "auto"
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    threads: int | None = None  # intra-op threads per worker (default: the cores / workers)
    token: str | None = None
    top_k: int = 5
    #: Dynamic batching: at most ``max_batch`` images per forward pass, gathered for at most ``max_wait_ms``
    #: after the first of them arrived (1 / 0: every image on its own).
    max_batch: int = 32
    max_wait_ms: float = 5.0
    #: Images admitted and not yet answered; one more is refused with 503 and Retry-After.
    max_queue: int = 256
    max_body_mb: float = 20.0
    max_images: int = 32  # per request
    max_megapixels: float = 64.0  # the decoded size an upload may declare
    min_side: int = 8  # pixels; smaller images hold nothing to classify
    body_timeout_s: float = 10.0  # the whole body must arrive within this (slow clients)
    decode_threads: int = 2
    drain_timeout_s: float = 30.0  # SIGTERM: in-flight requests get this long to finish
    data_dir: str | None = None  # int8 calibration photos (cifar10-jpeg.tar.gz)
    log_level: str = "warning"

    def __post_init__(self) -> None:
        positive = {"port": self.port, "workers": self.workers, "top_k": self.top_k, "max_batch": self.max_batch,
                    "max_queue": self.max_queue, "max_images": self.max_images, "min_side": self.min_side,
                    "decode_threads": self.decode_threads}
        for name, value in positive.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise UserError(f"--{name.replace('_', '-')} must be a whole number >= 1, got {value!r}")
        if self.port > 65535:
            raise UserError(f"--port must be at most 65535, got {self.port}")
        if self.threads is not None and (not isinstance(self.threads, int) or self.threads < 1):
            raise UserError(f"--threads must be a whole number >= 1, got {self.threads!r}")
        for name in ("max_wait_ms", "max_body_mb", "max_megapixels", "body_timeout_s", "drain_timeout_s"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or value < 0 or (value == 0 and name != "max_wait_ms"):
                raise UserError(f"--{name.replace('_', '-')} must be a positive number, got {value!r}")
        if self.max_queue < self.max_images:
            raise UserError(f"--max-queue ({self.max_queue}) is below --max-images ({self.max_images}): a request "
                            "that many images could never be admitted; raise --max-queue")
        if self.token is not None and not self.token.strip():
            raise UserError(f"the token is empty; pass --token TEXT (or set {TOKEN_ENV}), or neither")

    @property
    def max_body_bytes(self) -> int:
        return int(self.max_body_mb * 2**20)

    @property
    def max_pixels(self) -> int:
        return int(self.max_megapixels * 1e6)

    @property
    def local(self) -> bool:
        return self.host in LOCAL_HOSTS

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ServeSettings:
        data = json.loads(text)
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

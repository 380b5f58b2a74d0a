"""Prometheus metrics of one server (``GET /metrics``, prometheus-client's text format).

Each app has its own registry, so several apps in one process (the tests) do not share counters. With
``--workers N`` the parent points ``$PROMETHEUS_MULTIPROC_DIR`` at a fresh folder before the workers start
(prometheus-client's multiprocess mode), and ``/metrics`` then sums every worker, whichever one answers.
"""

from __future__ import annotations

import os

#: Request latency buckets (seconds): a 32-px model answers in a millisecond, a 224-px batch of 32 in seconds.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class Metrics:
    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics

        disable_created_metrics()  # the *_created series double the page and say nothing a scraper needs

        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter("googlenet_serve_requests", "HTTP requests answered, by route and status",
                                ["route", "status"], registry=r)
        self.errors = Counter("googlenet_serve_errors", "requests refused or failed, by kind of problem",
                              ["kind"], registry=r)
        self.latency = Histogram("googlenet_serve_request_seconds", "time from request to response, by route",
                                 ["route"], buckets=LATENCY_BUCKETS, registry=r)
        self.batch_size = Histogram("googlenet_serve_batch_size", "images per forward pass",
                                    buckets=BATCH_BUCKETS, registry=r)
        self.batch_seconds = Histogram("googlenet_serve_batch_seconds", "time of one forward pass",
                                       buckets=LATENCY_BUCKETS, registry=r)
        self.images = Counter("googlenet_serve_images", "images classified or explained", registry=r)
        self.queued = Gauge("googlenet_serve_queued_images", "images admitted and not yet answered",
                            registry=r, multiprocess_mode="livesum")

    def observe_batch(self, size: int, seconds: float) -> None:
        self.batch_size.observe(size)
        self.batch_seconds.observe(seconds)

    def render(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

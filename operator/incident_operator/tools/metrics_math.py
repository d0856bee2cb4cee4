"""Summaries of a metric series: min/max/mean/last and a trend, kept compact for people and models."""

from __future__ import annotations

import statistics
from datetime import datetime
from typing import Literal

from pydantic import BaseModel

Trend = Literal["rising", "falling", "flat", "no-data"]


class MetricSummary(BaseModel):
    metric: str
    points: list[tuple[datetime, float]] = []
    count: int = 0
    min: float | None = None
    max: float | None = None
    mean: float | None = None
    last: float | None = None
    trend: Trend = "no-data"


def summarize(metric: str, points: list[tuple[datetime, float]]) -> MetricSummary:
    points = sorted(points)
    values = [v for _, v in points]
    if not values:
        return MetricSummary(metric=metric)
    third = max(1, len(values) // 3)
    head, tail = statistics.fmean(values[:third]), statistics.fmean(values[-third:])
    spread = max(abs(head), abs(tail), 1e-9)
    trend: Trend = "flat" if abs(tail - head) / spread < 0.1 else ("rising" if tail > head else "falling")
    r = lambda x: round(x, 3)  # noqa: E731
    return MetricSummary(metric=metric, points=[(t, r(v)) for t, v in points], count=len(values),
                         min=r(min(values)), max=r(max(values)), mean=r(statistics.fmean(values)),
                         last=r(values[-1]), trend=trend)

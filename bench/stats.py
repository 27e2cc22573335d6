"""Percentiles and small formatting helpers shared by the scenarios."""

from __future__ import annotations

from array import array
from collections.abc import Iterable


def merge(arrays: Iterable[array]) -> array:
    merged = array("d")
    for values in arrays:
        merged.extend(values)
    return merged


def latency_summary(seconds: array) -> dict[str, float | int | None]:
    """p50/p90/p99/max in milliseconds (nearest rank) and the sample count."""
    if not seconds:
        return {"count": 0, "p50_ms": None, "p90_ms": None, "p99_ms": None, "max_ms": None}
    ordered = sorted(seconds)

    def rank(fraction: float) -> float:
        return round(1000.0 * ordered[min(len(ordered) - 1, int(fraction * len(ordered)))], 2)

    return {"count": len(ordered), "p50_ms": rank(0.50), "p90_ms": rank(0.90), "p99_ms": rank(0.99),
            "max_ms": round(1000.0 * ordered[-1], 2)}


def describe_latency(summary: dict[str, float | int | None]) -> str:
    if not summary["count"]:
        return "no samples"
    return (f"p50 {summary['p50_ms']:.1f} ms, p90 {summary['p90_ms']:.1f} ms, "
            f"p99 {summary['p99_ms']:.1f} ms, max {summary['max_ms']:.1f} ms ({summary['count']:,} samples)")


def rate(count: float, seconds: float) -> float:
    return count / seconds if seconds > 0 else 0.0


def verdict(met: bool | None) -> str:
    return "n/a" if met is None else "MET" if met else "NOT MET"

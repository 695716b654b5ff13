"""The health classes and the thresholds that decide them (`[braze_cdi.health]`, or the CLI's flags)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import dlt

from ..errors import ConfigurationError
from ..settings import DEFAULT_FUTURE_TOLERANCE_MINUTES

HEALTH_CLASSES = ("healthy", "degraded", "failing", "stale", "stuck", "unknown")

CONFIG_SECTION = "braze_cdi.health"
"""Thresholds can be set in `.dlt/config.toml` under `[braze_cdi.health]`, or as `BRAZE_CDI__HEALTH__<NAME>`."""


@dataclass(frozen=True)
class HealthThresholds:
    """The knobs of `integration_health.health`: the rule each one sets, with its default, is in docs/analyze.md
    (the health table); `future_sync_minutes` defaults to the tolerance the cursor uses."""

    stuck_after_hours: float = 6.0
    failing_after_failures: int = 2
    stale_after_hours: float | None = None
    stale_interval_factor: float = 2.0
    stale_min_hours: float = 1.0
    stale_fallback_hours: float = 48.0
    degraded_below_success_rate: float = 0.8
    watermark_stall_syncs: int = 6
    watermark_future_minutes: float = 5.0
    future_sync_minutes: float = DEFAULT_FUTURE_TOLERANCE_MINUTES

    def __post_init__(self) -> None:
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            if value is None and item.name == "stale_after_hours":
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ConfigurationError(f"health threshold {item.name} must be a number, not {value!r}.")
            if value < 0 or (item.name in ("failing_after_failures", "watermark_stall_syncs") and value < 1):
                raise ConfigurationError(f"health threshold {item.name} must be positive, not {value!r}.")
        if self.degraded_below_success_rate > 1:
            raise ConfigurationError("degraded_below_success_rate is a share between 0 and 1.")

    @classmethod
    def from_config(cls, **overrides: Any) -> HealthThresholds:
        """Defaults, then `[braze_cdi.health]` config / `BRAZE_CDI__HEALTH__*` env, then `overrides` (not None)."""
        values: dict[str, Any] = {}
        for item in dataclasses.fields(cls):
            kind = int if item.name in ("failing_after_failures", "watermark_stall_syncs") else float
            try:
                configured = dlt.config.get(f"{CONFIG_SECTION}.{item.name}", kind)
            except Exception as error:  # noqa: BLE001 - a malformed value: say which one
                raise ConfigurationError(f"{CONFIG_SECTION}.{item.name} in the config is not a {kind.__name__}.") \
                    from error
            if configured is not None:
                values[item.name] = configured
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def sql_params(self) -> dict[str, str]:
        """The SQL literals the health view's placeholders take."""
        if self.stale_after_hours is not None:
            stale = _number(self.stale_after_hours * 3600)
        else:
            typical = f"({_number(self.stale_interval_factor)} * ti.typical_interval_seconds)"
            stale = (
                f"CASE WHEN ti.typical_interval_seconds IS NULL THEN {_number(self.stale_fallback_hours * 3600)} "
                f"WHEN {typical} < {_number(self.stale_min_hours * 3600)} THEN {_number(self.stale_min_hours * 3600)} "
                f"ELSE {typical} END"
            )
        return {
            "stuck_after_seconds": _number(self.stuck_after_hours * 3600),
            "failing_after_failures": str(int(self.failing_after_failures)),
            "stale_after_seconds": stale,
            "degraded_below_success_rate": _number(self.degraded_below_success_rate),
            "watermark_stall_syncs": str(int(self.watermark_stall_syncs)),
            "watermark_future_seconds": str(int(round(self.watermark_future_minutes * 60))),
            "future_sync_seconds": str(int(round(self.future_sync_minutes * 60))),
        }


def _number(value: float) -> str:
    """A float as a SQL numeric literal every engine reads the same way."""
    return repr(float(value))

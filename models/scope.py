"""Which events a controller may write: a list of event ids, a prefix of them, or any."""

from __future__ import annotations

from dataclasses import dataclass

REFUSED = "not allowed for this controller"


@dataclass(frozen=True, slots=True)
class Scope:
    events: frozenset[str] | None = None  # exactly these
    prefix: str | None = None  # or every event whose id starts with this

    def allows(self, event_public_id: str) -> bool:
        if self.events is not None:
            return event_public_id in self.events
        if self.prefix is not None:
            return event_public_id.startswith(self.prefix)
        return True

    @property
    def unlimited(self) -> bool:
        return self.events is None and self.prefix is None


ANY_EVENT = Scope()

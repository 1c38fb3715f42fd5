"""What the spider hands to the pipeline: a page's Observations and the task they answer."""

from __future__ import annotations

import dataclasses

from pricewatch.models import Observation


@dataclasses.dataclass(frozen=True)
class ObservationItem:
    # one per series the page speaks of, published together as one stream entry
    observations: tuple[Observation, ...]
    # frontier key of the task (pricewatch.frontier.task_key), acked once published
    task_key: str

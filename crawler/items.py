"""What the spider hands to the pipeline: an Observation and the task it answers."""

from __future__ import annotations

import dataclasses

from pricewatch.models import Observation


@dataclasses.dataclass(frozen=True)
class ObservationItem:
    observation: Observation
    # frontier key of the task (pricewatch.frontier.task_key), acked once published
    task_key: str

"""What the role's two senders share in their configuration: the alerts worker
(:class:`alerts.worker.WorkerConfig`) and the account-message sender
(:class:`alerts.account_mail.MailerConfig`) read a stream in a consumer group and
try each message a bounded number of times, each try under a time limit. Both take
these from the same settings (``alerts.service``, ``alerts.account_service``)."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True, kw_only=True)
class SenderConfig:
    # this process's name in the consumer group: stable across restarts, a restarted
    # sender re-reads its own unacknowledged entries at once
    consumer: str
    # tries of one message, the first included
    max_attempts: int = 5
    send_timeout_s: float = 15.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")

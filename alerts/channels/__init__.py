"""Delivery channels behind one interface (:class:`alerts.channels.base.Channel`)."""

from alerts.channels.base import Channel, DeliveryError, PermanentError, TransientError

__all__ = ["Channel", "DeliveryError", "PermanentError", "TransientError"]

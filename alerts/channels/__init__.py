"""Delivery channels behind one interface (:class:`alerts.channels.base.Channel`)."""

from alerts.channels.base import Channel, Deferred, DeliveryError, PermanentError, TransientError

__all__ = ["Channel", "Deferred", "DeliveryError", "PermanentError", "TransientError"]

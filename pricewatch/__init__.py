"""Pricewatch: self-hostable Amazon price tracker (shared core).

Apps (crawler, scheduler, api, alerts) import this package; it imports none of them.
"""

__version__ = "0.1.0"

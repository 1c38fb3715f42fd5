"""Trust-but-verify for crowdsourced price reports.

- ``rules``: the rules, pure functions over plain values (why a report is suspicious,
  reputations, agreement between reporters, whether a crawl confirms a report);
- ``store``: the records in Redis (held, recent and accepted reports, markers, the
  outbox of decisions) and the script that decides a held report;
- ``gate``: :class:`TrustGate`, the ingest gate that applies the rules to each batch;
- ``sweeps``: expiry of held reports nobody verified, decisions into SQL;
- ``build``: the gate from settings.
"""

from pricewatch.trust.build import build_trust_gate, policy_from_settings
from pricewatch.trust.gate import TrustGate
from pricewatch.trust.rules import Reason, TrustPolicy, assess, judge, prices_agree, report_id
from pricewatch.trust.store import TrustStore
from pricewatch.trust.sweeps import Sweeps

__all__ = [
    "Reason",
    "Sweeps",
    "TrustGate",
    "TrustPolicy",
    "TrustStore",
    "assess",
    "build_trust_gate",
    "judge",
    "policy_from_settings",
    "prices_agree",
    "report_id",
]

"""Trust-but-verify for crowdsourced price reports: the rules, and nothing but the rules.

Pure functions over plain values. The ingest gate (:mod:`pricewatch.trust.gate`)
loads the context of a report (the last accepted price, the all-time low, the
reporter's record, how many armed subscriptions the price would fire, the other
reports of the same product in the window), asks :func:`assess` for a verdict,
and later asks :func:`judge` whether a verification crawl confirms a held report.

Why these signals: a fake low price only hurts when someone is told about it,
so a report that would fire subscriptions is never taken on an unproven
reporter's word; a price far from the last accepted one (either way) or under
the all-time low is the shape of a typo or a lie; reporters who were refuted before lose the
benefit of the doubt; and reports that contradict each other cannot all be right.
A report that raises none of these is accepted at once: most reports are
honest, and a crawl for each would cost the crawl budget the extension saves.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
from collections.abc import Iterable

from pricewatch.ingest.gate import Verdict
from pricewatch.models import Observation, encode


class Reason(enum.StrEnum):
    LARGE_DROP = "large_drop"
    LARGE_RISE = "large_rise"
    BELOW_ALL_TIME_LOW = "below_all_time_low"
    LOW_REPUTATION = "low_reputation"
    MANY_SUBSCRIBERS = "many_subscribers"
    CONFLICTING_REPORTS = "conflicting_reports"


@dataclasses.dataclass(frozen=True, kw_only=True)
class TrustPolicy:
    """Every knob of the rules. Shares are fractions (0.25 = 25 %), times milliseconds."""

    # a report more than this share under the last accepted price is a large drop
    drop_share: float = 0.25
    # ... and more than this share over it is a large rise: it fires nothing, but it
    # would redraw the chart and re-arm every subscription under it, so a 10x "price"
    # is checked as a big drop is
    rise_share: float = 0.5
    # ... and more than this share under the all-time low is below it
    below_low_share: float = 0.02
    # Beta(a, b) prior of the reputation score: a new reporter scores a / (a + b)
    prior_confirmed: float = 1.0
    prior_refuted: float = 1.0
    # under this score every report is verified first; under reject_below it is refused
    low_reputation: float = 0.4
    reject_below: float = 0.15
    # at or above this score a reporter can vouch for others (quorum) and fire
    # up to trusted_fire_limit subscriptions unverified; one confirmed report and
    # no refuted one takes a new reporter there under the default prior
    trusted_reputation: float = 0.65
    # Armed subscriptions an unproven reporter's price may fire without proof.
    # Zero: an alert is a promise to a person, and a price "just under someone's
    # threshold" fires one subscription only, so any positive limit is a target.
    fire_limit: int = 0
    trusted_fire_limit: int = 25
    # independent trusted reporters that, agreeing, accept a report without a crawl
    quorum: int = 3
    # reports this close in time can agree with or contradict each other
    window_ms: int = 10 * 60_000
    # two reported prices agree when within this share of each other
    agree_share: float = 0.01
    # a verification crawl confirms a report within this share of its price
    verify_tolerance_share: float = 0.02
    # a held report not verified by then is rejected (the target is 5 minutes)
    pending_ttl_ms: int = 30 * 60_000
    # share of reports accepted at once that are still spot-checked by a crawl
    spot_check_share: float = 0.05

    def __post_init__(self) -> None:
        for name in ("drop_share", "below_low_share", "agree_share", "verify_tolerance_share"):
            value = getattr(self, name)
            if not 0 <= value < 1:
                raise ValueError(f"{name} must be a share in [0, 1), got {value!r}")
        if not self.rise_share > 0:
            raise ValueError(f"rise_share must be positive, got {self.rise_share!r}")
        if not 0 <= self.spot_check_share <= 1:
            raise ValueError(f"spot_check_share must be in [0, 1], got {self.spot_check_share!r}")
        if self.prior_confirmed <= 0 or self.prior_refuted <= 0:
            raise ValueError("the reputation prior needs positive pseudo-counts")
        if not 0 <= self.reject_below <= self.low_reputation <= 1:
            raise ValueError("need 0 <= reject_below <= low_reputation <= 1")
        if not 0 < self.trusted_reputation <= 1:
            raise ValueError(f"trusted_reputation must be in (0, 1], got {self.trusted_reputation}")
        if self.fire_limit < 0 or self.trusted_fire_limit < self.fire_limit:
            raise ValueError("need 0 <= fire_limit <= trusted_fire_limit")
        if self.quorum < 2:
            raise ValueError(f"a quorum needs at least 2 reporters, got {self.quorum}")
        if self.window_ms <= 0 or self.pending_ttl_ms <= 0:
            raise ValueError("window_ms and pending_ttl_ms must be positive")


def reputation(confirmed: int, refuted: int, policy: TrustPolicy) -> float:
    """Posterior mean of a Beta prior: neutral at first, moved by every verdict.

    Counts rather than a running average, so one old refutation weighs less
    and less as confirmations pile up, and a fresh reporter (or a fresh install
    id, which costs nothing to make) is neither trusted nor condemned.
    """
    a, b = policy.prior_confirmed, policy.prior_refuted
    return (confirmed + a) / (confirmed + refuted + a + b)


@dataclasses.dataclass(frozen=True)
class Identity:
    """What makes reporters independent: a user account, or an install and an IP."""

    user: str | None = None
    install: str | None = None
    ip: str | None = None


def identity(reporter: str | None) -> Identity | None:
    """Parse ``user:<id>`` / ``install:<install id>:<ip hash>``; None when unknown."""
    if not reporter:
        return None
    kind, _, rest = reporter.partition(":")
    if kind == "user" and rest:
        return Identity(user=rest)
    if kind == "install":
        install, sep, ip = rest.rpartition(":")
        if sep and install and ip:
            return Identity(install=install, ip=ip)
    return None


@dataclasses.dataclass(frozen=True)
class PeerReport:
    """Another report of the same product and series, near in time."""

    reporter: str | None
    price: int | None
    observed_at: int
    reputation: float


@dataclasses.dataclass(frozen=True, kw_only=True)
class ReportContext:
    """Everything the rules look at for one extension report."""

    price: int | None
    observed_at: int
    reporter: str | None
    reputation: float
    last_price: int | None = None
    last_observed_at: int | None = None
    all_time_low: int | None = None
    # armed active subscriptions whose threshold this price reaches (may be capped)
    armed_subscriptions: int = 0
    peers: tuple[PeerReport, ...] = ()


@dataclasses.dataclass(frozen=True)
class Assessment:
    verdict: Verdict
    reasons: tuple[Reason, ...] = ()
    # independent trusted reporters whose agreement accepted a suspicious report
    vouched_by: tuple[str, ...] = ()


def prices_agree(a: int | None, b: int | None, share: float) -> bool:
    """Same availability and prices within ``share`` (at least one minor unit apart allowed)."""
    if a is None or b is None:
        return a is b
    return abs(a - b) <= max(1.0, share * max(a, b))


def _near(peer: PeerReport, ctx: ReportContext, policy: TrustPolicy) -> bool:
    return peer.reporter != ctx.reporter and abs(peer.observed_at - ctx.observed_at) <= (
        policy.window_ms
    )


def independent(reporters: Iterable[str | None]) -> list[str]:
    """The reporters, in order, that share no user, install or IP with an earlier one.

    Many installs behind one IP (or one install hopping IPs) count once: making
    installs is free, and an IP address or an account is what costs an attacker.
    """
    users: set[str] = set()
    installs: set[str] = set()
    ips: set[str] = set()
    kept: list[str] = []
    for reporter in reporters:
        who = identity(reporter)
        if who is None or reporter is None:
            continue
        if who.user is not None:
            if who.user in users:
                continue
            users.add(who.user)
        else:
            if who.install in installs or who.ip in ips:
                continue
            installs.add(who.install or "")
            ips.add(who.ip or "")
        kept.append(reporter)
    return kept


def vouchers(ctx: ReportContext, policy: TrustPolicy) -> tuple[str, ...]:
    """Independent trusted reporters (this one included) who report the same price."""
    trusted = policy.trusted_reputation
    agreeing = sorted(
        (
            p
            for p in ctx.peers
            if _near(p, ctx, policy)
            and p.reputation >= trusted
            and prices_agree(p.price, ctx.price, policy.agree_share)
        ),
        key=lambda p: -p.reputation,
    )
    first = [ctx.reporter] if ctx.reputation >= trusted else []
    return tuple(independent([*first, *(p.reporter for p in agreeing)]))


def conflicting(ctx: ReportContext, policy: TrustPolicy) -> bool:
    """Another credible reporter claims a third price since the last accepted one.

    Reports of the old price are not a conflict (the price may just have
    dropped); neither are reports from reporters already under suspicion, or
    anyone could keep a product's honest reports waiting by contradicting them.
    """
    for peer in ctx.peers:
        if not _near(peer, ctx, policy) or peer.reputation < policy.low_reputation:
            continue
        if ctx.last_observed_at is not None and peer.observed_at <= ctx.last_observed_at:
            continue
        if prices_agree(peer.price, ctx.price, policy.agree_share):
            continue
        if ctx.last_price is not None and prices_agree(
            peer.price, ctx.last_price, policy.agree_share
        ):
            continue
        return True
    return False


def suspicions(ctx: ReportContext, policy: TrustPolicy) -> tuple[Reason, ...]:
    reasons: list[Reason] = []
    price = ctx.price
    if price is not None:
        if ctx.last_price is not None and price < ctx.last_price * (1 - policy.drop_share):
            reasons.append(Reason.LARGE_DROP)
        if ctx.last_price is not None and price > ctx.last_price * (1 + policy.rise_share):
            reasons.append(Reason.LARGE_RISE)
        if ctx.all_time_low is not None and price < ctx.all_time_low * (1 - policy.below_low_share):
            reasons.append(Reason.BELOW_ALL_TIME_LOW)
        limit = (
            policy.trusted_fire_limit
            if ctx.reputation >= policy.trusted_reputation
            else policy.fire_limit
        )
        if ctx.armed_subscriptions > limit:
            reasons.append(Reason.MANY_SUBSCRIBERS)
    if ctx.reputation < policy.low_reputation:
        reasons.append(Reason.LOW_REPUTATION)
    if conflicting(ctx, policy):
        reasons.append(Reason.CONFLICTING_REPORTS)
    return tuple(reasons)


def assess(ctx: ReportContext, policy: TrustPolicy) -> Assessment:
    """Accept, hold for verification, or reject one extension report.

    A suspicious report is still accepted without a crawl when a quorum of
    independent trusted reporters agree on its price, unless its own reporter
    is under suspicion or credible reporters contradict it.
    """
    if ctx.reputation < policy.reject_below:
        return Assessment(Verdict.REJECT, (Reason.LOW_REPUTATION,))
    if ctx.last_price is not None and ctx.price == ctx.last_price:
        # Repeating the accepted price changes nothing and fires nothing: no news
        # to check, however many subscribers sit above it.
        return Assessment(Verdict.ACCEPT)
    reasons = suspicions(ctx, policy)
    if not reasons:
        return Assessment(Verdict.ACCEPT)
    if Reason.LOW_REPUTATION not in reasons and Reason.CONFLICTING_REPORTS not in reasons:
        agreeing = vouchers(ctx, policy)
        if len(agreeing) >= policy.quorum:
            return Assessment(Verdict.ACCEPT, reasons, agreeing)
    return Assessment(Verdict.HOLD, reasons)


def judge(reported: int | None, verified: int | None, policy: TrustPolicy) -> bool:
    """True when a verification crawl confirms the reported price.

    A verification that finds no price (out of stock, page gone) refutes a
    report of a price; the tolerance absorbs rounding and a price that moved a
    little between the report and the crawl.
    """
    return prices_agree(reported, verified, policy.verify_tolerance_share)


def report_id(observation: Observation) -> str:
    """Deterministic id of a report: the same report (a replay, a re-publish) has the same id."""
    return hashlib.blake2b(encode(observation), digest_size=12).hexdigest()


def spot_checked(report: str, share: float) -> bool:
    """Whether an accepted report is in the spot-check sample.

    Decided by its id, not a random draw, so a replayed batch samples the same reports.
    """
    if share <= 0:
        return False
    bucket = int(report[:8], 16) / 0xFFFFFFFF
    return bucket < share


__all__ = [
    "Assessment",
    "Identity",
    "PeerReport",
    "Reason",
    "ReportContext",
    "TrustPolicy",
    "assess",
    "conflicting",
    "identity",
    "independent",
    "judge",
    "prices_agree",
    "report_id",
    "reputation",
    "spot_checked",
    "suspicions",
    "vouchers",
]

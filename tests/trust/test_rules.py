"""The pure trust-but-verify rules: no service, plain values in, verdict and reasons out."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pricewatch.ingest.gate import Verdict
from pricewatch.models import Observation
from pricewatch.trust.rules import (
    Identity,
    PeerReport,
    Reason,
    ReportContext,
    TrustPolicy,
    assess,
    identity,
    independent,
    judge,
    report_id,
    reputation,
    spot_checked,
    vouchers,
)

POLICY = TrustPolicy()
NEUTRAL = reputation(0, 0, POLICY)
TRUSTED = reputation(3, 0, POLICY)
T0 = 1_700_000_000_000


def ctx(price: int | None = 9_000, **kw: object) -> ReportContext:
    fields: dict[str, object] = dict(
        price=price,
        observed_at=T0,
        reporter="install:aaaaaaaa:ip1",
        reputation=NEUTRAL,
        last_price=10_000,
        last_observed_at=T0 - 3_600_000,
        all_time_low=8_000,
        armed_subscriptions=0,
    )
    fields.update(kw)
    return ReportContext(**fields)  # type: ignore[arg-type]


def peer(
    reporter: str, price: int | None = 9_000, rep: float = TRUSTED, dt: int = -60_000
) -> PeerReport:
    return PeerReport(reporter, price, T0 + dt, rep)


def test_a_new_reporter_is_neutral_and_verdicts_move_the_score():
    assert NEUTRAL == 0.5
    assert reputation(1, 0, POLICY) > NEUTRAL > reputation(0, 1, POLICY)
    assert reputation(1, 0, POLICY) >= POLICY.trusted_reputation
    assert reputation(0, 1, POLICY) < POLICY.low_reputation
    assert reputation(0, 5, POLICY) < POLICY.reject_below


def test_an_ordinary_report_is_accepted_at_once():
    assert assess(ctx(), POLICY).verdict is Verdict.ACCEPT
    assert assess(ctx(price=None), POLICY).verdict is Verdict.ACCEPT
    # a price rise within the share is ordinary news
    assert assess(ctx(price=14_000), POLICY).verdict is Verdict.ACCEPT


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"price": 7_400}, Reason.LARGE_DROP),
        # a "price" ten times the accepted one would redraw the chart and re-arm alerts
        ({"price": 100_000}, Reason.LARGE_RISE),
        ({"price": 15_100}, Reason.LARGE_RISE),
        ({"price": 8_500, "all_time_low": 9_000}, Reason.BELOW_ALL_TIME_LOW),
        ({"reputation": reputation(0, 1, POLICY)}, Reason.LOW_REPUTATION),
        ({"armed_subscriptions": 1}, Reason.MANY_SUBSCRIBERS),
        (
            {"peers": (peer("install:bbbbbbbb:ip2", price=5_000, rep=NEUTRAL),)},
            Reason.CONFLICTING_REPORTS,
        ),
    ],
)
def test_each_suspicion_holds_the_report(changes: dict, reason: Reason):
    result = assess(ctx(**changes), POLICY)
    assert result.verdict is Verdict.HOLD
    assert reason in result.reasons


def test_a_drop_within_the_share_and_above_the_low_is_not_suspicious():
    assert assess(ctx(price=7_600, all_time_low=7_000), POLICY).verdict is Verdict.ACCEPT


def test_a_trusted_reporter_may_fire_some_subscriptions_an_unproven_one_none():
    assert assess(ctx(armed_subscriptions=5, reputation=TRUSTED), POLICY).verdict is (
        Verdict.ACCEPT
    )
    assert (
        assess(
            ctx(armed_subscriptions=POLICY.trusted_fire_limit + 1, reputation=TRUSTED), POLICY
        ).verdict
        is Verdict.HOLD
    )
    assert assess(ctx(armed_subscriptions=1), POLICY).verdict is Verdict.HOLD


def test_repeating_the_accepted_price_is_no_news_even_with_subscribers_waiting():
    result = assess(ctx(price=10_000, armed_subscriptions=50), POLICY)
    assert result.verdict is Verdict.ACCEPT


def test_a_reporter_with_a_record_of_false_reports_is_rejected():
    result = assess(ctx(reputation=reputation(0, 6, POLICY)), POLICY)
    assert result == result.__class__(Verdict.REJECT, (Reason.LOW_REPUTATION,))


def test_old_price_reports_and_suspect_reporters_are_no_conflict():
    old_price = peer("install:bbbbbbbb:ip2", price=10_000, rep=NEUTRAL)
    suspect = peer("install:cccccccc:ip3", price=4_000, rep=reputation(0, 2, POLICY))
    before_last = peer("install:dddddddd:ip4", price=4_000, rep=NEUTRAL, dt=-7_200_000)
    result = assess(ctx(peers=(old_price, suspect, before_last)), POLICY)
    assert result.verdict is Verdict.ACCEPT


def test_a_quorum_of_independent_trusted_reporters_accepts_without_a_crawl():
    peers = (peer("install:bbbbbbbb:ip2", 7_000), peer("user:42", 7_010))
    result = assess(
        ctx(price=7_000, armed_subscriptions=3, reputation=TRUSTED, peers=peers), POLICY
    )
    assert result.verdict is Verdict.ACCEPT
    assert Reason.LARGE_DROP in result.reasons
    assert set(result.vouched_by) == {"install:aaaaaaaa:ip1", "install:bbbbbbbb:ip2", "user:42"}


@pytest.mark.parametrize(
    "peers",
    [
        # many installs behind one IP count once
        (peer("install:bbbbbbbb:ip1", 7_000), peer("install:cccccccc:ip1", 7_000)),
        # one install hopping IPs counts once
        (peer("install:aaaaaaaa:ip7", 7_000), peer("install:aaaaaaaa:ip8", 7_000)),
        # new reporters cannot vouch
        (peer("install:bbbbbbbb:ip2", 7_000, rep=NEUTRAL), peer("user:42", 7_000, rep=NEUTRAL)),
        # outside the window
        (peer("install:bbbbbbbb:ip2", 7_000, dt=-3_600_000), peer("user:42", 7_000)),
        # a different price
        (peer("install:bbbbbbbb:ip2", 7_500), peer("user:42", 7_000)),
    ],
)
def test_no_quorum_from_dependent_untrusted_distant_or_disagreeing_reports(peers):
    result = assess(
        ctx(price=7_000, reputation=TRUSTED, armed_subscriptions=30, peers=peers), POLICY
    )
    assert result.verdict is Verdict.HOLD
    assert result.vouched_by == ()


def test_a_contradicted_report_is_held_even_with_a_quorum():
    peers = (peer("install:bbbbbbbb:ip2", 7_000), peer("user:42", 7_000), peer("user:43", 5_000))
    result = assess(
        ctx(price=7_000, reputation=TRUSTED, armed_subscriptions=30, peers=peers), POLICY
    )
    assert result.verdict is Verdict.HOLD
    assert Reason.CONFLICTING_REPORTS in result.reasons


def test_identity_parsing_and_independence():
    assert identity("user:7") == Identity(user="7")
    assert identity("install:abc-def_12:9f0e") == Identity(install="abc-def_12", ip="9f0e")
    assert identity("install:nope") is None
    assert identity(None) is None
    assert identity("crawler") is None
    assert independent(
        [
            "user:1",
            "user:1",
            "install:a:x",
            "install:b:x",
            "install:a:y",
            "install:c:z",
            None,
            "junk",
        ]
    ) == ["user:1", "install:a:x", "install:c:z"]


def test_vouchers_include_the_reporter_only_when_trusted():
    peers = (peer("install:bbbbbbbb:ip2", 7_000),)
    assert vouchers(ctx(price=7_000, peers=peers), POLICY) == ("install:bbbbbbbb:ip2",)
    assert vouchers(ctx(price=7_000, peers=peers, reputation=TRUSTED), POLICY) == (
        "install:aaaaaaaa:ip1",
        "install:bbbbbbbb:ip2",
    )


def test_judge_uses_the_tolerance_and_no_price_refutes_a_price():
    assert judge(10_000, 10_150, POLICY)
    assert not judge(10_000, 10_300, POLICY)
    assert not judge(5_000, 10_000, POLICY)
    assert not judge(10_000, None, POLICY)
    assert judge(None, None, POLICY)


@given(st.integers(0, 10**9), st.integers(0, 10**9))
def test_judge_is_symmetric_and_reflexive(a: int, b: int):
    assert judge(a, a, POLICY)
    assert judge(a, b, POLICY) == judge(b, a, POLICY)


@given(st.integers(0, 1000), st.integers(0, 1000))
def test_reputation_is_a_probability_that_rises_with_confirmations(c: int, r: int):
    score = reputation(c, r, POLICY)
    assert 0 < score < 1
    assert reputation(c + 1, r, POLICY) > score > reputation(c, r + 1, POLICY)


def test_report_ids_are_deterministic_and_spot_checks_follow_the_share():
    obs = Observation(
        market="us",
        asin="B000000001",
        observed_at=T0,
        availability="in_stock",
        source="extension",
        price=100,
        currency="USD",
        reporter="user:1",
    )
    assert report_id(obs) == report_id(
        Observation(**{f: getattr(obs, f) for f in obs.__struct_fields__})
    )
    other = Observation(
        market="us",
        asin="B000000001",
        observed_at=T0 + 1,
        availability="in_stock",
        source="extension",
        price=100,
        currency="USD",
        reporter="user:1",
    )
    assert report_id(obs) != report_id(other)
    ids = [f"{i * 2654435761 % 2**32:08x}" + "0" * 16 for i in range(2000)]
    share = sum(spot_checked(i, 0.1) for i in ids) / len(ids)
    assert 0.05 < share < 0.15
    assert not any(spot_checked(i, 0) for i in ids)
    assert all(spot_checked(i, 1) for i in ids)


@pytest.mark.parametrize(
    "bad",
    [
        {"drop_share": 1.0},
        {"quorum": 1},
        {"reject_below": 0.5, "low_reputation": 0.4},
        {"fire_limit": 30},
        {"prior_refuted": 0},
        {"window_ms": 0},
        {"spot_check_share": 1.5},
        {"rise_share": 0},
    ],
)
def test_a_bad_policy_is_refused_with_a_reason(bad: dict):
    with pytest.raises(ValueError, match=r"\w"):
        TrustPolicy(**bad)

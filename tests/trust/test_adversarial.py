"""The adversarial benchmark, small: honest drops all announced, no fake price ever announced."""

from __future__ import annotations

import pytest

from bench import adversarial as bench

pytestmark = [pytest.mark.redis, pytest.mark.clickhouse, pytest.mark.slow]


def test_malicious_reporters_cause_no_false_change_and_honest_drops_all_land(
    redis_client, keys, price_store, tmp_path
):
    scenario = bench.Scenario(
        products=12, popular=6, honest=60, duration_s=25 * 60, visit_rate=0.06, seed=3
    )
    result = bench.simulate(
        scenario, redis_client, keys, price_store, f"sqlite+aiosqlite:///{tmp_path}/adversarial.db"
    )
    assert result.drops == 6
    assert result.false_changes == 0
    assert result.false_alerts == 0
    assert result.drops_alerted == result.drops
    # the malicious were caught by verification, not merely ignored
    assert result.verdicts.get("refuted", 0) > 0
    assert result.verdicts.get("confirmed", 0) > 0

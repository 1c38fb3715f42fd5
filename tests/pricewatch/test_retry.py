from pricewatch.retry import MAX_S, retry_delay


def test_retry_delays_double_then_stay_at_the_cap():
    delays = [retry_delay(n) for n in range(1, 10)]
    assert delays[:4] == [0.5, 1.0, 2.0, 4.0]
    assert delays == sorted(delays) and delays[-1] == MAX_S
    assert retry_delay(1000) == MAX_S  # no overflow, however long the fault lasts


def test_a_failed_round_is_told_loudly_once_then_briefly(caplog):
    import logging

    import redis

    from pricewatch.retry import log_failed_round

    log = logging.getLogger("test.retry")
    with caplog.at_level(logging.INFO, logger="test.retry"):
        log_failed_round(log, "ingest batch", OSError(28, "No space left on device"), 1, 0.5)
        log_failed_round(log, "ingest batch", OSError(28, "No space left on device"), 2, 1.0)
        log_failed_round(log, "ingest batch", redis.ConnectionError("refused"), 1, 0.5)
    first, again, away = caplog.records
    assert first.levelname == "ERROR" and first.exc_info is not None
    assert again.levelname == "WARNING" and again.exc_info is None
    assert "2 in a row" in again.getMessage()
    assert away.levelname == "WARNING" and "redis unavailable" in away.getMessage()

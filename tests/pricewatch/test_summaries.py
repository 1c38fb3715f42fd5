from pricewatch.summaries import Tally


def test_a_tally_reports_at_most_once_a_minute_and_only_when_something_happened() -> None:
    tally = Tally(every_s=60.0)
    assert tally.add(0.0, observations=5, changes=1) is None
    assert tally.add(30.0, observations=2, changes=0) is None
    assert tally.add(61.0, observations=1, changes=0) == {"observations": 8, "changes": 1}
    # counting starts again; a quiet minute says nothing
    assert tally.add(100.0, observations=0, changes=0) is None
    assert tally.add(130.0, observations=0, changes=0) is None
    assert tally.add(140.0, observations=3, changes=0) is None
    assert tally.add(191.0, observations=1, changes=1) == {"observations": 4, "changes": 1}

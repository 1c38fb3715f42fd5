"""Taking a price report in: who reports it, within their limits, checked (the rules
are ``api.services.reports``), then onto the ``observations`` stream for ingest,
which applies trust-but-verify.
"""

from __future__ import annotations

from litestar.exceptions import ValidationException

from api.metrics import REPORTS
from api.ratelimit import Limit
from api.schemas import ReportAccepted, ReportIn
from api.services import limits, reports
from api.services.lookups import request_first_crawl
from api.services.views import count_view
from api.state import ApiState


async def take_report(
    state: ApiState, report: ReportIn, user_id: int | None, install_id: str | None, client_ip: str
) -> ReportAccepted:
    """Publish a report; 400 saying what is wrong with it, 429 beyond the reporter's
    or the client IP's limit."""
    settings = state.settings
    now = state.clock()
    try:
        reporter = reports.reporter_for(user_id, install_id, client_ip, settings.api_ip_hash_key)
    except reports.ReportError as exc:
        raise ValidationException(str(exc)) from None
    await limits.within(
        state,
        Limit("report-ip", client_ip, settings.api_report_ip_rate_per_min),
        Limit("report", reporter, settings.api_report_rate_per_min),
    )
    try:
        observations = reports.report_to_observations(report, reporter, now)
    except reports.ReportError as exc:
        REPORTS.labels("rejected").inc()
        raise ValidationException(str(exc)) from None
    REPORTS.labels("accepted").inc()
    obs = observations[0]  # the buy box
    pipe = state.redis.pipeline(transaction=False)
    reports.publish(
        pipe, state.keys, settings.stream_partitions, settings.stream_maxlen, observations
    )
    count_view(pipe, state.keys, obs.market, obs.asin, "report")
    reports.queue_tracked_check(pipe, state.keys, settings.stream_partitions, obs)
    *_, tracked = await pipe.execute()
    if not tracked:
        # Ingest keeps no report of a product no crawl has seen; someone is looking
        # at its page, though, so it may be worth a first crawl, within the limits
        # every lookup has.
        await request_first_crawl(state, obs.market, obs.asin, client_ip)
    return ReportAccepted(reporter=reporter)

"""Price reports from the extension: validated, rate limited, then put on the
``observations`` stream for ingest (which applies trust-but-verify)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, post
from litestar.di import NamedDependency
from litestar.exceptions import ValidationException
from litestar.params import HeaderParameter, JSONBody
from litestar.status_codes import HTTP_202_ACCEPTED

from api.dependencies import OPTIONAL_USER, client_ip, get_state
from api.metrics import REPORTS
from api.ratelimit import Limit, enforce
from api.schemas import ReportAccepted, ReportIn
from api.services import reports
from api.services.lookups import request_first_crawl
from api.services.views import count_view
from pricewatch.storage.sql import User


class ReportController(Controller):
    path = "/reports"
    tags = ["reports"]
    dependencies = OPTIONAL_USER

    @post(
        "/",
        status_code=HTTP_202_ACCEPTED,
        summary="Report a price seen on an Amazon page (the extension calls this)",
        description=(
            "Signed in (bearer token): the reporter is the account. Anonymous: send "
            "X-Install-Id (the extension's random install id). Limited per reporter and "
            "per client IP (429 with Retry-After); bodies over the size limit get 413."
        ),
        security=[{}, {"BearerAuth": []}],
    )
    async def report(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[ReportIn],
        user: NamedDependency[User | None],
        install_id: Annotated[
            str | None, HeaderParameter(name="x-install-id", max_length=64)
        ] = None,
    ) -> ReportAccepted:
        state = get_state(request)
        ip = client_ip(request)
        settings = state.settings
        now = state.clock()
        try:
            reporter = reports.reporter_for(
                user.id if user else None, install_id, ip, settings.api_ip_hash_key
            )
        except reports.ReportError as exc:
            raise ValidationException(str(exc)) from None
        await enforce(
            state.redis,
            state.keys,
            [
                Limit("report-ip", ip, settings.api_report_ip_rate_per_min),
                Limit("report", reporter, settings.api_report_rate_per_min),
            ],
            now,
        )
        try:
            obs = reports.report_to_observation(data, reporter, now)
        except reports.ReportError as exc:
            REPORTS.labels("rejected").inc()
            raise ValidationException(str(exc)) from None
        REPORTS.labels("accepted").inc()
        pipe = state.redis.pipeline(transaction=False)
        reports.publish(pipe, state.keys, settings.stream_partitions, settings.stream_maxlen, obs)
        count_view(pipe, state.keys, obs.market, obs.asin, "report")
        reports.queue_tracked_check(pipe, state.keys, settings.stream_partitions, obs)
        *_, tracked = await pipe.execute()
        if not tracked:
            # Ingest keeps no report of a product no crawl has seen; someone is looking
            # at its page, though, so it may be worth a first crawl, within the limits
            # every lookup has.
            await request_first_crawl(state, obs.market, obs.asin, ip)
        return ReportAccepted(reporter=reporter)

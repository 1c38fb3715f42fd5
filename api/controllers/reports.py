"""Price reports from the extension: validated, rate limited, then put on the
``observations`` stream for ingest (which applies trust-but-verify)."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, post
from litestar.params import HeaderParameter, JSONBody
from litestar.status_codes import HTTP_202_ACCEPTED

from api.dependencies import OPTIONAL_USER, Api, ClientIp, MaybeMe
from api.schemas import ReportAccepted, ReportIn
from api.services.report_intake import take_report


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
        api: Api,
        client_ip: ClientIp,
        data: JSONBody[ReportIn],
        user: MaybeMe,
        install_id: Annotated[
            str | None, HeaderParameter(name="x-install-id", max_length=64)
        ] = None,
    ) -> ReportAccepted:
        return await take_report(api, data, user.id if user else None, install_id, client_ip)

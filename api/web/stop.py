"""Stopping an alert from the message that carried it, without signing in.

Every alert's links carry a stop URL signed for its subscription
(``pricewatch.alert_links``). A GET shows what would stop and a button: mail
scanners and link previews fetch GET links on their own, so a GET never changes
anything. A POST stops at once; that is also RFC 8058's one-click unsubscribe,
which mail clients send (body ``List-Unsubscribe=One-Click``) when they see the
``List-Unsubscribe-Post`` header next to ``List-Unsubscribe``. Stopping pauses
the alert: it keeps its place in "My alerts" and can be resumed there.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from litestar import Controller, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Template
from litestar.status_codes import HTTP_200_OK, HTTP_404_NOT_FOUND

from api.dependencies import Api
from api.services import alert_stops
from api.services.alert_stops import StoppableAlert
from api.web.pages import page


def _stop_page(alert: StoppableAlert | None, state: str, **context: Any) -> Template:
    if alert is None:
        # a link we did not sign, or an alert deleted since
        return page("stop.html", {"state": "invalid"}, HTTP_404_NOT_FOUND)
    return page("stop.html", {"state": state, **context, **dataclasses.asdict(alert)})


class StopController(Controller):
    path = "/alerts/{subscription_id:int}/stop"
    include_in_schema = False

    @get("/", name="web:stop")
    async def confirm(
        self, api: Api, subscription_id: FromPath[int], token: FromQuery[str] = ""
    ) -> Template:
        alert = await alert_stops.find(api, subscription_id, token)
        state = "confirm" if alert is not None and alert.was_sending else "stopped"
        return _stop_page(alert, state, token=token, subscription_id=subscription_id)

    @post("/", name="web:stop-now", status_code=HTTP_200_OK)
    async def stop(
        self, api: Api, subscription_id: FromPath[int], token: FromQuery[str] = ""
    ) -> Template:
        # The body is ignored: the page's button and a mail client's one-click POST
        # ("List-Unsubscribe=One-Click") mean the same thing.
        alert = await alert_stops.stop(api, subscription_id, token)
        return _stop_page(alert, "done", subscription_id=subscription_id)

"""Webhook URLs and Apprise servers users give, judged by the egress policy before
anything is stored."""

from __future__ import annotations

from litestar.exceptions import ServiceUnavailableException

from api.state import ApiState
from pricewatch.egress import EgressError, EgressPolicy, EgressRefused

RETRY_AFTER_S = 30


class CannotCheckNow(ServiceUnavailableException):
    """DNS did not answer for now: the URL is neither accepted nor refused (503)."""


async def vet_webhook_url(state: ApiState, url: str) -> None:
    """The URL's host must resolve to public addresses (or allowed ones)."""
    try:
        await state.egress_policy().vet(url)
    except EgressError as exc:
        raise CannotCheckNow(
            detail=f"The URL cannot be checked right now ({exc}); try again shortly.",
            headers={"Retry-After": str(RETRY_AFTER_S)},
        ) from None


async def vet_apprise_server(state: ApiState, server: str) -> None:
    """The server an Apprise URL names (``https://ntfy.example.org/``) must resolve to
    public addresses (or allowed ones), as a webhook's host must."""
    try:
        await vet_webhook_url(state, server)
    except EgressRefused as exc:
        raise EgressRefused(f"The server of that Apprise URL is refused: {exc}.") from None


def on_allow_list(policy: EgressPolicy, url: str) -> bool:
    """Whether the operator allowed the URL's host by name, or its address when the
    URL names one: such a receiver is trusted without a challenge."""
    target = policy.target(url)
    if target.ip is None:
        return target.host in policy.allowed_hosts
    return any(
        target.ip in network
        for network in policy.allowed_networks
        if network.version == target.ip.version
    )

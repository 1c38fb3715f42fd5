"""Amazon's short links (``amzn.to``, ``a.co``, ``amzn.eu``, ``amzn.asia``) -> the
product they lead to, by asking the link's host once.

A visitor's text makes us send a request, so it goes through the egress policy
(``pricewatch.egress``) like a webhook: the name must resolve to public addresses only
(or to what the operator allows), the connection goes to the address just checked, and
nothing is followed. One HEAD; the redirect's Location is judged as text
(``api.web.search.product_from_redirect``: an Amazon product URL of a known
marketplace) and never requested. Resolutions are limited per client IP, since each
costs an outbound request.
"""

from __future__ import annotations

from api.ratelimit import Limit
from api.services.limits import within
from api.state import ApiState
from api.web.search import ProductRef, SearchError, ShortLink, product_from_redirect
from pricewatch.egress import EgressError, EgressRefused, HostBusy, SafeHttpClient

# where each short-link host is asked (``api.web.search.SHORT_LINK_HOSTS`` names them)
SHORT_LINK_ORIGINS = {
    host: f"https://{host}" for host in ("amzn.to", "a.co", "amzn.eu", "amzn.asia")
}
RESOLUTIONS_PER_IP_PER_MINUTE = 10
# browsers' own HEAD would do; a plain name tells the host who asks
_HEADERS = {"User-Agent": "Pricewatch (short-link check)", "Accept": "*/*"}


async def follow_once(client: SafeHttpClient, url: str, host: str = "amzn.to") -> ProductRef:
    """The product the redirect at ``url`` (a link of ``host``) leads to; raises
    :class:`SearchError` with the reason in words (refused by the egress policy,
    unreachable, no redirect, or a redirect anywhere but an Amazon product page)."""
    try:
        response = await client.head(url, headers=_HEADERS)
    except EgressRefused:
        raise SearchError(f"That {host} link cannot be checked from here.") from None
    except (EgressError, HostBusy):
        raise SearchError(f"{host} did not answer; try again in a minute.") from None
    if not 300 <= response.status < 400:
        if response.status == 404:
            raise SearchError(f"{host} does not know that link.")
        raise SearchError(f"{host} did not redirect that link (HTTP {response.status}).")
    return product_from_redirect(response.location, host)


async def resolve(state: ApiState, link: ShortLink, client_ip: str) -> ProductRef:
    """``link``'s product, counted against ``client_ip``'s limit (429 beyond it).

    Asked of the link host's ``SHORT_LINK_ORIGINS`` entry (read at each call: tests
    aim it at a local server, which the egress policy must then allow)."""
    await within(state, Limit("short-link", client_ip, RESOLUTIONS_PER_IP_PER_MINUTE, 60))
    settings = state.settings
    client = SafeHttpClient(
        state.egress_policy(),
        connect_timeout_s=settings.egress_connect_timeout_s,
        read_timeout_s=settings.egress_read_timeout_s,
        host_concurrency=settings.egress_host_concurrency,
        breaker_failures=settings.egress_breaker_failures,
        breaker_cooldown_s=settings.egress_breaker_cooldown_s,
    )
    try:
        origin = SHORT_LINK_ORIGINS[link.host]
        return await follow_once(client, f"{origin}/{link.code}", link.host)
    finally:
        await client.aclose()

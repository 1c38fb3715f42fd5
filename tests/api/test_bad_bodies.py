"""Hostile JSON bodies on every route that takes one: a 400 that says what is wrong,
logged without the body, never a server error. Through the real server (uvicorn as
``api.server`` runs it) over real Redis, chDB and SQLite."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar import Litestar
from litestar.enums import RequestEncodingType
from litestar.routes import HTTPRoute

from api.json_body import MAX_JSON_DEPTH, BadJsonBody, check_value
from tests.api.served import serving

pytestmark = [pytest.mark.redis, pytest.mark.clickhouse]

# room for bodies far deeper than the decoder's own recursion limit
MAX_BODY = 256 * 1024
SECRET = "never-log-this-password"
EXAMPLES = 15


@dataclasses.dataclass(frozen=True)
class Site:
    url: str
    auth: dict[str, str]
    # (method, path with its parameters filled in) of every route taking a JSON body
    json_routes: list[tuple[str, str]]

    def send(self, method: str, path: str, body: bytes) -> httpx.Response:
        headers = {**self.auth, "Content-Type": "application/json"}
        return httpx.request(method, self.url + path, content=body, headers=headers, timeout=30)


def json_routes(app: Litestar) -> list[tuple[str, str]]:
    """Every (method, path) of ``app`` whose handler reads a JSON body, found from the
    app itself so that routes added later are fuzzed too."""
    found: list[tuple[str, str]] = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            field = handler.parsed_data_field
            if (
                field is None
                or getattr(field.kwarg_definition, "media_type", RequestEncodingType.JSON)
                != RequestEncodingType.JSON
            ):
                continue
            path = route.path
            for param in route.path_parameters.values():
                # values that parse, so that only the body can be wrong
                value = "1" if param.type is int else "B0FUZZ0001"
                path = path.replace("{" + param.full + "}", value)
            found += [(method, path) for method in sorted(handler.http_methods)]
    return found


@pytest.fixture
def site(make_app: Callable[..., Litestar]) -> Iterator[Site]:
    app = make_app(
        api_auth_rate_per_min=10_000,
        api_report_rate_per_min=10_000,
        api_report_ip_rate_per_min=10_000,
        api_max_body_bytes=MAX_BODY,
    )
    with serving(app) as url:
        account = {"email": "bodies@example.org", "password": "a long enough password"}
        assert httpx.post(f"{url}/accounts", json=account).status_code == 201
        token = httpx.post(f"{url}/auth/token", json=account).json()["token"]
        yield Site(
            url=url,
            json_routes=json_routes(app),
            auth={"Authorization": f"Bearer {token}", "X-Install-Id": "bodies-install"},
        )


def nested(depth: int, kind: str) -> bytes:
    if kind == "array":
        return b"[" * depth + b"]" * depth
    return b'{"k":' * (depth - 1) + b"{}" + b"}" * (depth - 1)


BAD_BODIES = {
    "invalid UTF-8 in a string": (
        b'{"email": "\xff\xfe@example.org", "password": "' + SECRET.encode() + b'"}',
        "not valid UTF-8",
    ),
    "UTF-8 of a surrogate": (b'{"email": "\xed\xa0\x80"}', "not valid UTF-8"),
    "overlong UTF-8": (b'{"email": "\xc0\xaf"}', "not valid UTF-8"),
    "invalid UTF-8 outside strings": (b"\xff" + b'{"a": 1}', "not valid UTF-8"),
    "7,000 nested arrays": (nested(7_000, "array"), "nests deeper than 32"),
    "100,000 nested arrays": (nested(100_000, "array"), "nests deeper than 32"),
    "33 nested objects": (nested(33, "object"), "nests deeper than 32"),
    "malformed JSON": (b'{"email": ', "not valid JSON"),
    "not JSON at all": (b"<xml/>", "not valid JSON"),
    "an empty body": (b"", ""),
    "a NUL in a string": (b'{"email": "a\\u0000@example.org"}', "U+0000"),
    "a lone surrogate escape": (b'{"email": "\\udc00"}', "not valid JSON"),
    "an array for an object": (b"[1, 2]", ""),
    "a string for an object": (b'"text"', ""),
    "null": (b"null", ""),
    "a number for a string": (b'{"email": 12, "password": 3}', ""),
    "an object for a number": (b'{"productID": "B0FUZZ0001", "threshold": {"a": 1}}', ""),
}


def test_every_json_route_is_found(site: Site) -> None:
    assert {
        ("POST", "/accounts"),
        ("POST", "/auth/token"),
        ("POST", "/subscriptions"),
        ("PATCH", "/subscriptions/1"),
        ("POST", "/reports"),
    } <= set(site.json_routes)


@pytest.mark.parametrize("case", list(BAD_BODIES))
def test_a_bad_body_is_a_400_that_says_why(
    site: Site, case: str, caplog: pytest.LogCaptureFixture
) -> None:
    body, reason = BAD_BODIES[case]
    caplog.set_level(logging.INFO, logger="api")
    for method, path in site.json_routes:
        response = site.send(method, path, body)
        assert response.status_code == 400, (method, path, response.text)
        answer = response.json()
        assert answer["status_code"] == 400
        assert reason in answer["detail"], (method, path, answer)
    logged = [r for r in caplog.records if r.name == "api.errors"]
    assert len(logged) >= len(site.json_routes)
    assert all(r.levelno == logging.INFO and " 400 " in r.getMessage() for r in logged)
    # the reason is logged, the body never is
    assert not any(SECRET in r.getMessage() or "\ufffd" in r.getMessage() for r in caplog.records)


def test_a_body_nested_32_levels_passes_the_check() -> None:
    check_value(msgspec_nested(MAX_JSON_DEPTH))
    with pytest.raises(BadJsonBody, match="deeper than 32"):
        check_value(msgspec_nested(MAX_JSON_DEPTH + 1))
    with pytest.raises(BadJsonBody, match="deeper than 32"):
        check_value({"a": [1, {"b": msgspec_nested(MAX_JSON_DEPTH - 1)}]})


def msgspec_nested(depth: int) -> Any:
    import msgspec

    return msgspec.json.decode(nested(depth, "array"))


# ------------------------------------------------------------------------- fuzzing

INVALID_UTF8 = [
    b"\xff",
    b"\xfe",
    b"\x80",
    b"\xc3\x28",
    b"\xe2\x82",
    b"\xed\xa0\x80",
    b"\xc0\xaf",
    b"\xf4\x90\x80\x80",
    b"\xf8\x88\x80\x80\x80",
]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)


def _fuzz(site: Site, bodies: st.SearchStrategy[tuple[bytes, str]]) -> list[str]:
    failures: list[str] = []

    @settings(
        max_examples=EXAMPLES * len(site.json_routes),
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(route=st.sampled_from(site.json_routes), case=bodies)
    def check(route: tuple[str, str], case: tuple[bytes, str]) -> None:
        (method, path), (body, reason) = route, case
        response = site.send(method, path, body)
        if response.status_code != 400 or reason not in response.json()["detail"]:
            failures.append(
                f"{method} {path} {body[:80]!r} -> {response.status_code}: {response.text[:200]}"
            )

    check()
    return failures


@st.composite
def invalid_utf8_bodies(draw: st.DrawFn) -> tuple[bytes, str]:
    """A JSON document with bytes that are not UTF-8 put anywhere in it."""
    import json

    text = json.dumps({"email": draw(json_values), "password": draw(st.text())}).encode()
    at = draw(st.integers(0, len(text)))
    return text[:at] + draw(st.sampled_from(INVALID_UTF8)) + text[at:], "not valid UTF-8"


@st.composite
def deep_bodies(draw: st.DrawFn) -> tuple[bytes, str]:
    """Arrays and objects nested past the bound, alone or inside an object."""
    kind = draw(st.sampled_from(["array", "object"]))
    # as deep as fits under the size limit: 2 bytes a level for arrays, 6 for objects
    depth = draw(st.integers(MAX_JSON_DEPTH + 1, (MAX_BODY - 100) // (2 if kind == "array" else 6)))
    inner = nested(depth, kind)
    if draw(st.booleans()):
        inner = b'{"email": "x@example.org", "threshold": ' + inner + b"}"
    return inner, "nests deeper than 32"


@pytest.mark.slow
def test_fuzzed_invalid_utf8_and_deep_nesting_are_400s(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="api")
    failures = _fuzz(site, invalid_utf8_bodies()) + _fuzz(site, deep_bodies())
    assert failures == [], "\n".join(failures[:20])
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]

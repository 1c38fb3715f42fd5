"""The account's pages in a real browser (Debian's Chromium through Playwright): the
real app on uvicorn, the real alerts role (``alerts.service``) mailing to a real SMTP
server (aiosmtpd), and the links followed as they arrive in those e-mails."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
import uuid
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from alerts import service as alerts_service
from pricewatch.storage import sql
from tests.api.conftest import register_in_page
from tests.apps import ServedApp, no_history, require_web_bundles, served_app
from tests.browser import own_origin_page
from tests.mail import MailRecorder, link_in, smtp_server

pytestmark = [pytest.mark.browser, pytest.mark.clickhouse, pytest.mark.redis, pytest.mark.slow]

PASSWORD = "correct horse battery"


@dataclasses.dataclass(frozen=True)
class Site(ServedApp):
    """The served site, and what its alerts role mailed."""

    mail: MailRecorder

    def mail_to(self, address: str, kind: str, timeout: float = 15.0) -> EmailMessage:
        """The newest account e-mail of ``kind`` to ``address``, once it arrives."""
        deadline = time.monotonic() + timeout
        while True:
            found = [
                m
                for m in list(self.mail.messages)
                if m["To"] == address and m["X-Pricewatch-Account-Message"] == kind
            ]
            if found:
                return found[-1]
            if time.monotonic() > deadline:
                raise AssertionError(f"no {kind} e-mail to {address} within {timeout} s")
            time.sleep(0.05)


@pytest.fixture(scope="module")
def site(
    tmp_path_factory: pytest.TempPathFactory, redis_url: str, clickhouse_client: Any
) -> Iterator[Site]:
    require_web_bundles()
    recorder = MailRecorder()
    served: ServedApp
    with smtp_server(recorder) as smtp_port:
        for served in served_app(
            "account", tmp_path_factory.mktemp("account"), redis_url, clickhouse_client, no_history
        ):
            # the alerts role as `pricewatch up` runs it, mailing to the local SMTP server
            settings = dataclasses.replace(
                served.settings,
                database_url=served.database_url,
                smtp_host="127.0.0.1",
                smtp_port=smtp_port,
                smtp_tls="none",
                alerts_consumer="browser-alerts",
                mail_from="Pricewatch <alerts@pricewatch.test>",
            )
            stop = threading.Event()
            role = threading.Thread(
                target=alerts_service.run,
                args=(settings, redis_url, stop),
                name="alerts-role",
                daemon=True,
            )
            role.start()
            try:
                yield Site(served.url, served.database_url, served.settings, recorder)
            finally:
                stop.set()
                role.join(20)


@pytest.fixture
def page(browser: Any, site: Site) -> Iterator[Any]:
    with own_origin_page(browser, site.url, accept_downloads=True) as tab:
        yield tab


def unexpected(errors: list[str]) -> list[str]:
    """Console errors but the browser's note of the 400 a test provoked on purpose."""
    return [e for e in errors if "status of 400 (Bad Request)" not in e]


def _user(site: Site, email: str) -> sql.User | None:
    return site.on_database(lambda engine: sql.get_user_by_email(engine, email))


def _verified(site: Site, email: str) -> bool:
    user = _user(site, email)
    assert user is not None
    return user.email_verified


def _new_email(what: str) -> str:
    return f"{what}-{uuid.uuid4().hex[:8]}@example.org"


def test_register_then_verify_the_email_with_the_link_it_was_sent(
    page: Any, page_errors: list[str], site: Site
) -> None:
    email = _new_email("verify")
    page.goto("/register")
    assert "at least 8 characters" in page.locator("#password-rule").inner_text()
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill("        ")
    page.get_by_role("button", name="Register").click()
    refused = page.locator('#account-form [data-field-error="password"]')
    refused.wait_for()
    assert refused.inner_text() == "Use at least 8 characters for the password, not only spaces"
    assert _user(site, email) is None
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Register").click()
    page.wait_for_url("**/alerts")
    token = page.evaluate("() => localStorage.getItem('pricewatch.token')")
    with site.client() as client:
        created = client.post(
            "/subscriptions",
            headers={"Authorization": f"Bearer {token}"},
            json={"productID": "B0WAITVER1", "threshold": 10, "notificationType": "EMAIL"},
        )
    assert created.status_code == 201 and created.json()["status"] == "unconfirmed"
    page.reload()
    status = page.locator('#alerts-table [data-field="status"]')
    status.wait_for()
    assert status.inner_text() == "Waiting for confirmation"

    link = link_in(site.mail_to(email, "verify_email"))
    assert link.startswith(f"{site.url}/verify-email?token=")
    page.goto(link)
    # the page only offers a button: opening the link confirmed nothing
    button = page.get_by_role("button", name="Confirm my e-mail address")
    button.wait_for()
    assert not _verified(site, email)
    button.click()
    page.locator("#link-message").get_by_text("Your e-mail address is verified.").wait_for()
    assert _verified(site, email)

    page.get_by_role("link", name=email).click()
    page.wait_for_url("**/account")
    page.wait_for_selector('#account-page[data-verified="true"]')
    assert page.locator('[data-field="verified"]').inner_text() == "verified"
    page.goto("/alerts")
    status.wait_for()
    assert status.inner_text() == "Active"
    assert unexpected(page_errors) == []


def test_forgot_password_reset_it_and_sign_in_with_the_new_one(
    page: Any, page_errors: list[str], site: Site
) -> None:
    email = _new_email("forgot")
    with site.client() as client:
        client.post("/accounts", json={"email": email, "password": PASSWORD}).raise_for_status()

    page.goto("/signin")
    page.get_by_role("link", name="Forgot your password?").click()
    page.wait_for_url("**/forgot-password")
    page.get_by_label("E-mail").fill(email)
    page.get_by_role("button", name="Send me a link").click()
    page.locator("#forgot-message").get_by_text("If an account has this e-mail address").wait_for()

    link = link_in(site.mail_to(email, "reset_password"))
    assert link.startswith(f"{site.url}/reset-password?token=")
    page.goto(link)
    page.get_by_label("New password").fill("a fresh new secret")
    page.get_by_role("button", name="Set the new password").click()
    page.locator("#reset-message").get_by_text("Your password is changed.").wait_for()
    page.get_by_role("link", name="Sign in with it").click()
    page.wait_for_url("**/signin")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill("a fresh new secret")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/alerts")
    assert page.locator("[data-account-email]").inner_text() == email

    with site.client() as client:
        old = client.post("/auth/token", json={"email": email, "password": PASSWORD})
        assert old.status_code == 401
    # the reset link reached the inbox: the address counts as verified
    assert _verified(site, email)
    # and it works once
    page.goto(link)
    assert "does not work any more" in page.locator("main").inner_text()
    assert unexpected(page_errors) == []


def test_the_account_page_manages_targets_password_export_and_deletion(
    page: Any, site: Site, tmp_path: Path
) -> None:
    email = _new_email("account")
    register_in_page(page, email, PASSWORD)
    page.goto("/account")
    page.wait_for_selector('#account-page[data-verified="false"]')
    assert page.locator('[data-field="email"]').inner_text() == email

    # a target: added, waiting, its confirmation on its way, then removed
    page.locator("#target-form select[name=kind]").select_option("EMAIL")
    page.get_by_label("Address", exact=True).fill("Friend@Example.org")
    page.get_by_role("button", name="Add").click()
    row = page.locator("#targets-table tbody tr")
    row.wait_for()
    assert row.locator('[data-field="address"]').inner_text() == "friend@example.org"
    assert row.locator('[data-field="state"]').inner_text() == "Waiting for confirmation"
    site.mail_to("friend@example.org", "confirm_target")
    row.get_by_role("button", name="Send the confirmation again").click()
    assert "ask again in" in page.locator("#account-page-message.error").inner_text()
    row.get_by_role("button", name="Remove").click()
    page.locator("#account-page-message").get_by_text("Removed.").wait_for()
    assert page.locator("#targets-table tbody tr").count() == 0

    page.get_by_label("Current password").fill(PASSWORD)
    page.get_by_label("New password").fill("another good secret")
    page.get_by_role("button", name="Change password").click()
    page.locator("#account-page-message").get_by_text("Password changed.").wait_for()

    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download all my data (JSON)").click()
    download = download_info.value
    assert download.suggested_filename == "pricewatch-export.json"
    saved = tmp_path / "export.json"
    download.save_as(saved)
    exported = json.loads(saved.read_text())
    assert exported["account"]["email"] == email
    assert [t["address"] for t in exported["targets"]] == []

    page.get_by_label("Password", exact=True).fill("another good secret")
    page.get_by_role("button", name="Delete my account").click()
    assert "Tick the box" in page.locator("#account-page-message.error").inner_text()
    assert _user(site, email) is not None
    page.get_by_label("I understand that this cannot be undone").check()
    page.get_by_role("button", name="Delete my account").click()
    page.wait_for_url(site.url + "/")
    assert _user(site, email) is None
    assert page.evaluate("() => localStorage.getItem('pricewatch.token')") is None

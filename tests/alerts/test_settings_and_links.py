from __future__ import annotations

import os
from pathlib import Path

import pytest

from pricewatch import alert_links
from pricewatch.settings import load_settings


def test_alert_defaults_need_no_configuration(tmp_path: Path) -> None:
    s = load_settings({"PRICEWATCH_DATA_DIR": str(tmp_path)})
    assert s.smtp_host is None  # e-mail goes to the outbox
    assert s.outbox_dir == tmp_path.resolve() / "outbox"
    assert (s.smtp_port, s.smtp_tls, s.sms_provider) == (587, "starttls", "log")
    assert s.public_url == "http://127.0.0.1:8000"
    assert s.alert_secret is None and s.alerts_consumer is None
    assert s.alert_max_attempts == 5


def test_alert_settings_from_the_environment(tmp_path: Path) -> None:
    s = load_settings(
        {
            "PRICEWATCH_SMTP_HOST": "mail.example.com",
            "PRICEWATCH_SMTP_PORT": "465",
            "PRICEWATCH_SMTP_TLS": "TLS",
            "PRICEWATCH_SMTP_USER": "u",
            "PRICEWATCH_SMTP_PASSWORD": "p",
            "PRICEWATCH_MAIL_FROM": "Deals <deals@example.com>",
            "PRICEWATCH_PUBLIC_URL": "https://prices.example.com/",
            "PRICEWATCH_ALERT_SECRET": "s3",
            "PRICEWATCH_WEBHOOK_SECRET": "w3",
            "PRICEWATCH_SMS_PROVIDER": "twilio",
            "PRICEWATCH_SMS_ACCOUNT_SID": "AC1",
            "PRICEWATCH_SMS_AUTH_TOKEN": "tok",
            "PRICEWATCH_SMS_FROM": "+15550001111",
            "PRICEWATCH_OUTBOX_DIR": str(tmp_path / "mail"),
            "PRICEWATCH_ALERT_MAX_ATTEMPTS": "7",
            "PRICEWATCH_ALERT_LEASE_MS": "90000",
            "PRICEWATCH_ALERTS_CONSUMER": "alerts-1",
        }
    )
    assert (s.smtp_host, s.smtp_port, s.smtp_tls, s.smtp_user, s.smtp_password) == (
        "mail.example.com",
        465,
        "tls",
        "u",
        "p",
    )
    assert s.mail_from == "Deals <deals@example.com>"
    assert s.public_url == "https://prices.example.com"
    assert (s.alert_secret, s.webhook_secret) == ("s3", "w3")
    assert (s.sms_provider, s.sms_account_sid, s.sms_auth_token, s.sms_from) == (
        "twilio",
        "AC1",
        "tok",
        "+15550001111",
    )
    assert s.outbox_dir == (tmp_path / "mail").resolve()
    assert (s.alert_max_attempts, s.alert_lease_ms, s.alerts_consumer) == (7, 90000, "alerts-1")


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("SMTP_TLS", "maybe", "PRICEWATCH_SMTP_TLS must be one of starttls, tls, none"),
        ("SMS_PROVIDER", "pigeon", "PRICEWATCH_SMS_PROVIDER must be one of log, twilio"),
        ("SMTP_PORT", "smtp", "PRICEWATCH_SMTP_PORT must be an integer"),
    ],
)
def test_bad_alert_settings_are_clear_errors(name: str, value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_settings({f"PRICEWATCH_{name}": value})


def test_stop_tokens_verify_only_for_their_subscription_and_secret() -> None:
    token = alert_links.stop_token(42, "secret")
    assert alert_links.verify_stop_token(42, token, "secret")
    assert not alert_links.verify_stop_token(43, token, "secret")
    assert not alert_links.verify_stop_token(42, token, "other")
    assert not alert_links.verify_stop_token(
        42, token[:-1] + ("A" if token[-1] != "A" else "B"), "secret"
    )
    assert not alert_links.verify_stop_token(42, "", "secret")
    url = alert_links.stop_url("https://p.test/", 42, "secret")
    assert url == f"https://p.test/alerts/42/stop?token={token}"


def test_product_links() -> None:
    assert alert_links.product_page_url("https://p.test", "de", "B000000001") == (
        "https://p.test/p/de/B000000001"
    )
    assert alert_links.amazon_url("de", "B000000001") == "https://www.amazon.de/dp/B000000001"


def test_the_default_secret_is_created_once_and_kept_private(tmp_path: Path) -> None:
    settings = load_settings({"PRICEWATCH_DATA_DIR": str(tmp_path)})
    first = alert_links.alert_secret(settings)
    assert len(first) >= 32
    assert alert_links.alert_secret(settings) == first
    assert alert_links.webhook_secret(settings) == first
    assert os.stat(tmp_path / alert_links.SECRET_FILE).st_mode & 0o777 == 0o600
    configured = load_settings(
        {"PRICEWATCH_DATA_DIR": str(tmp_path), "PRICEWATCH_ALERT_SECRET": "given"}
    )
    assert alert_links.alert_secret(configured) == "given"


def test_links_in_messages_follow_the_api_port_unless_a_public_url_is_set(tmp_path: Path) -> None:
    from alerts.service import worker_config

    moved = load_settings({"PRICEWATCH_DATA_DIR": str(tmp_path), "PRICEWATCH_API_PORT": "9123"})
    assert worker_config(moved).public_url == "http://127.0.0.1:9123"
    public = load_settings(
        {
            "PRICEWATCH_DATA_DIR": str(tmp_path),
            "PRICEWATCH_API_PORT": "9123",
            "PRICEWATCH_PUBLIC_URL": "https://prices.example.com",
        }
    )
    assert worker_config(public).public_url == "https://prices.example.com"

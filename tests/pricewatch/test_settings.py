from pathlib import Path

import pytest

from pricewatch.settings import load_settings


def test_embedded_defaults_live_under_the_data_dir(tmp_path):
    s = load_settings({"PRICEWATCH_DATA_DIR": str(tmp_path)})
    assert s.data_dir == tmp_path.resolve()
    assert s.clickhouse_url == f"chdb://{tmp_path.resolve()}/clickhouse"
    assert s.database_url == f"sqlite+aiosqlite:///{tmp_path.resolve()}/pricewatch.db"
    assert s.redis_url is None  # "start one"


def test_default_data_dir_is_per_user():
    s = load_settings({})
    assert s.data_dir == (Path.home() / ".local" / "share" / "pricewatch").resolve()


def test_servers_replace_embedded_stores():
    s = load_settings(
        {
            "PRICEWATCH_CLICKHOUSE_URL": "http://ch:8123/pw",
            "PRICEWATCH_DATABASE_URL": "postgresql+asyncpg://u@pg/pw",
            "PRICEWATCH_REDIS_URL": "redis://r:6379/0",
            "PRICEWATCH_STREAM_PARTITIONS": "16",
        }
    )
    assert (s.clickhouse_url, s.database_url, s.redis_url, s.stream_partitions) == (
        "http://ch:8123/pw",
        "postgresql+asyncpg://u@pg/pw",
        "redis://r:6379/0",
        16,
    )


def test_bad_numbers_are_clear_errors():
    with pytest.raises(ValueError, match="PRICEWATCH_STREAM_PARTITIONS must be an integer"):
        load_settings({"PRICEWATCH_STREAM_PARTITIONS": "many"})


def test_proxies_from_env_and_file(tmp_path):
    f = tmp_path / "proxies.txt"
    f.write_text("# office\n127.0.0.2:8001\n\nhttp://127.0.0.3:8002\n")
    s = load_settings(
        {
            "PRICEWATCH_PROXIES": "http://127.0.0.3:8002, 127.0.0.4:8003",
            "PRICEWATCH_PROXY_FILE": str(f),
        }
    )
    assert s.proxies == ("http://127.0.0.3:8002", "http://127.0.0.4:8003", "http://127.0.0.2:8001")
    assert load_settings({}).proxies == ()


def test_unreadable_proxy_file_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="PROXY_FILE: cannot read"):
        load_settings({"PRICEWATCH_PROXY_FILE": str(tmp_path / "missing")})


@pytest.mark.parametrize(
    ("name", "raw", "message"),
    [
        ("PROXY_INTERVAL_S", "soon", "must be a number"),
        ("PROXY_INTERVAL_S", "-1", "must be positive"),
        ("TRUST_DROP_SHARE", "half", "must be a number"),
        ("TRUST_DROP_SHARE", "1.5", "must be a share between 0 and 1"),
        ("PUBLIC_URL", "ftp://example.org", "must be an http"),
        ("SMTP_TLS", "maybe", "must be one of starttls, tls, none"),
        ("DIRECT_JITTER_S", "0", "must be positive"),
    ],
)
def test_a_bad_value_is_a_clear_error_naming_its_variable(name, raw, message):
    with pytest.raises(ValueError, match=f"PRICEWATCH_{name} {message}"):
        load_settings({f"PRICEWATCH_{name}": raw})


def test_the_trust_drop_share_defaults_to_a_quarter():
    assert load_settings({}).trust_drop_share == 0.25


def test_public_url_follows_the_api_port_unless_set():
    assert load_settings({"PRICEWATCH_API_PORT": "9001"}).public_url == "http://127.0.0.1:9001"
    given = load_settings(
        {"PRICEWATCH_PUBLIC_URL": "https://pw.example.org/", "PRICEWATCH_API_PORT": "9001"}
    )
    assert given.public_url == "https://pw.example.org"


def test_every_field_with_a_default_has_a_reader():
    # a new setting whose type has no reader fails here, not on a user's machine
    from pricewatch.settings import _fields_to_read

    assert len(_fields_to_read()) > 70

"""JSON logs: one object per line, whatever the message holds."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys

import pytest

from pricewatch.logs import REQUEST_ID, JsonFormatter, formatter
from pricewatch.settings import load_settings


def record(message: str, *args: object, **extra: object) -> logging.LogRecord:
    entry = logging.LogRecord("pricewatch.test", logging.WARNING, __file__, 1, message, args, None)
    entry.__dict__.update(extra)
    return entry


def test_a_record_is_one_json_line_with_time_level_logger_message() -> None:
    line = JsonFormatter().format(record('price %s\n{"level": "forged"}', "9.99"))
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["level"] == "WARNING" and entry["logger"] == "pricewatch.test"
    assert entry["message"] == 'price 9.99\n{"level": "forged"}'
    assert entry["time"].endswith("+00:00") and "T" in entry["time"]
    assert "request_id" not in entry


def test_the_request_id_comes_from_the_request_being_handled_or_the_caller() -> None:
    token = REQUEST_ID.set("req-1")
    try:
        assert json.loads(JsonFormatter().format(record("x")))["request_id"] == "req-1"
        given = record("x", request_id="req-2")
        assert json.loads(JsonFormatter().format(given))["request_id"] == "req-2"
    finally:
        REQUEST_ID.reset(token)


def test_an_exception_travels_inside_its_line() -> None:
    try:
        raise ValueError("bad\nthing")
    except ValueError:
        entry = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())
    parsed = json.loads(JsonFormatter().format(entry))
    assert parsed["message"] == "failed"
    assert "ValueError: bad" in parsed["exception"] and "Traceback" in parsed["exception"]


def test_the_format_is_a_setting_that_defaults_to_text() -> None:
    assert load_settings({}).log_format == "text"
    assert load_settings({"PRICEWATCH_LOG_FORMAT": "JSON"}).log_format == "json"
    with pytest.raises(ValueError, match="PRICEWATCH_LOG_FORMAT must be one of text, json"):
        load_settings({"PRICEWATCH_LOG_FORMAT": "xml"})
    assert not isinstance(formatter("text"), JsonFormatter)
    with pytest.raises(ValueError):
        formatter("xml")


def test_the_command_logs_json_lines_when_asked(tmp_path) -> None:
    """A role's process as `pricewatch` sets it up (cli._setup_logging)."""
    code = (
        "import logging; from pricewatch.cli import _setup_logging; "
        "from pricewatch.settings import load_settings; "
        "_setup_logging(load_settings()); "
        "logging.getLogger('pricewatch.ingest').info('ingested %d', 3); "
        "logging.getLogger('x').debug('hidden')\n"
        "try:\n    1 / 0\nexcept ZeroDivisionError:\n"
        "    logging.getLogger('alerts').exception('oops')"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRICEWATCH_")}
    env.update(PRICEWATCH_DATA_DIR=str(tmp_path), PRICEWATCH_LOG_FORMAT="json")
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stderr.splitlines()]
    assert [(e["level"], e["logger"], e["message"]) for e in lines] == [
        ("INFO", "pricewatch.ingest", "ingested 3"),
        ("ERROR", "alerts", "oops"),
    ]
    assert "ZeroDivisionError" in lines[1]["exception"]

    env["PRICEWATCH_LOG_FORMAT"] = "text"
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert " INFO pricewatch.ingest: ingested 3" in done.stderr.splitlines()[0]

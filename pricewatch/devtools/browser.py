"""The demo browser (``pricewatch up --demo --browser``): Chromium with the extension,
on the demo marketplace as if it were Amazon.

The extension only runs on ``https://www.amazon.*`` pages, so the browser is told, by
its own command line and for its own throwaway profile only, that those names are the
demo's TLS marketplace on loopback (``--host-resolver-rules``) and that the demo CA's
key vouches for them (``--ignore-certificate-errors-spki-list``). Every other name
resolves to nothing: this browser reaches this machine and nothing else, so no
request ever goes to the real Amazon. No file outside the data dir changes.

The extension keeps its server URL in ``chrome.storage.local``; the launcher sets it
to the demo's API through the DevTools protocol over a pipe (no port for anyone else
to reach) before it opens the first product page.
"""

from __future__ import annotations

import contextlib
import dataclasses
import glob
import ipaddress
import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

__all__ = [
    "BrowserError",
    "DemoBrowser",
    "DemoSite",
    "browser_api_url",
    "chromium_args",
    "chromium_flags",
    "find_chromium",
    "host_resolver_rules",
    "launch",
    "wait_for_port",
    "seed_expression",
    "unpacked_extension",
]

log = logging.getLogger(__name__)

REPO_DIR = Path(__file__).resolve().parents[2]
EXTENSION_DIST = REPO_DIR / "extension" / "dist"
# how the extension gets built (mk/extension.mk)
BUILD_HINT = "run `make extension` in the repository (npm ci + npm run build in extension/)"
# Chromium builds that still load an unpacked extension from the command line, in the
# order they are looked for; Google Chrome ignores --load-extension since version 137
CHROMIUM_NAMES = ("chromium", "chromium-browser")
PLAYWRIGHT_GLOBS = (
    "~/.cache/ms-playwright/chromium-*/chrome-linux*/chrome",
    "~/Library/Caches/ms-playwright/chromium-*/chrome-mac*/Chromium.app/Contents/MacOS/Chromium",
)
# names that always reach this machine, never mapped away
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1", "[::1]")
# seconds for Chromium to start, show the extension's worker and answer
SETUP_TIMEOUT_S = 60.0


class BrowserError(Exception):
    """The demo browser cannot start; the message says why and what to do."""


@dataclasses.dataclass(frozen=True)
class DemoSite:
    """What a browser needs to know of the demo's TLS marketplace."""

    # the loopback port it listens on, with TLS
    port: int
    # the Amazon host names it answers for (www.amazon.com, amazon.com, www.amazon.de, ...)
    hostnames: tuple[str, ...]
    # base64 SHA-256 of the demo CA's public key (SubjectPublicKeyInfo)
    ca_spki: str
    # a product page to open first, https://www.amazon.<domain>/dp/<ASIN>
    start_url: str


def host_resolver_rules(site: DemoSite, reachable: Sequence[str] = ()) -> str:
    """Chromium's ``--host-resolver-rules``: the demo's Amazon names to its loopback
    port, loopback names and ``reachable`` (the API's host) as they are, every other
    name to nothing. Rules apply in order, the first that matches wins; an EXCLUDE
    keeps a name from every MAP."""
    rules = [f"MAP {name} 127.0.0.1:{site.port}" for name in site.hostnames]
    rules.append("MAP * ~NOTFOUND")
    for name in dict.fromkeys([*LOOPBACK_NAMES, *reachable]):
        rules.append(f"EXCLUDE {name}")
    return ", ".join(rules)


def chromium_flags(extension: Path, site: DemoSite, *, reachable: Sequence[str] = ()) -> list[str]:
    """The flags that make a Chromium profile the demo browser (besides the profile
    itself): the extension, the demo's names, trust in the demo CA, no proxy."""
    return [
        f"--load-extension={extension}",
        f"--disable-extensions-except={extension}",
        f"--host-resolver-rules={host_resolver_rules(site, reachable)}",
        # honoured only with --user-data-dir (Chromium's own rule): this profile only
        f"--ignore-certificate-errors-spki-list={site.ca_spki}",
        # a system proxy would resolve the Amazon names itself, on the internet
        "--no-proxy-server",
    ]


def chromium_args(
    extension: Path, site: DemoSite, *, reachable: Sequence[str] = (), headless: bool = False
) -> list[str]:
    """Everything on the demo browser's command line but its profile, the DevTools pipe
    and the first page: ``chromium_flags`` and how to run this Chromium here."""
    args = [
        *chromium_flags(extension, site, reachable=reachable),
        "--no-first-run",
        "--no-default-browser-check",
    ]
    if os.geteuid() == 0:
        # Chromium's sandbox refuses to run as root
        args.append("--no-sandbox")
    if headless:
        args.append("--headless=new")
    return args


def seed_expression(api_url: str) -> str:
    """JavaScript for the extension's service worker: its server URL is ``api_url``
    (what the options page stores)."""
    return f"chrome.storage.local.set({{apiUrl: {json.dumps(api_url)}}}).then(() => true)"


def unpacked_extension(dist: Path = EXTENSION_DIST) -> Path:
    """The built extension, or a BrowserError saying how to build it."""
    needed = ("manifest.json", "background.js", "content.js")
    missing = [name for name in needed if not (dist / name).is_file()]
    if missing:
        raise BrowserError(
            f"the extension is not built ({dist} lacks {', '.join(missing)}): {BUILD_HINT}"
        )
    return dist


def find_chromium(explicit: str | None = None) -> str:
    """``explicit`` if given, else Chromium on PATH, else Playwright's Chromium."""
    if explicit:
        found = shutil.which(explicit)
        if found is None:
            raise BrowserError(f"no browser at {explicit!r}")
        return found
    for name in CHROMIUM_NAMES:
        if found := shutil.which(name):
            return found
    for pattern in PLAYWRIGHT_GLOBS:
        if matches := sorted(glob.glob(os.path.expanduser(pattern))):
            return matches[-1]
    raise BrowserError(
        "no Chromium found (looked for "
        + ", ".join(CHROMIUM_NAMES)
        + " on PATH and for Playwright's): install it (apt-get install chromium) or name "
        "one with --chrome PATH (Google Chrome ignores --load-extension since version 137)"
    )


def browser_api_url(api_host: str, api_port: int) -> str:
    """Where the browser reaches the API: a wildcard listen address means this machine."""
    host = api_host
    with contextlib.suppress(ValueError):
        address = ipaddress.ip_address(api_host)
        if address.is_unspecified:
            host = "127.0.0.1" if address.version == 4 else "::1"
        if address.version == 6:
            host = f"[{address if not address.is_unspecified else '::1'}]"
    return f"http://{host}:{api_port}"


# [pid:tid:date/time:LEVEL:source/file.cc:line] text
_LOG_PREFIX = re.compile(r"^\[[0-9:/.]+:([A-Z]+):([^\]]*)\]\s*")
# sources whose errors never say why Chromium stopped (no session bus; helpers that
# lose their parent)
_LOG_NOISE = ("dbus/", "content/zygote/", "content/common/zygote/")
_TARGET_EVENTS = ("Target.targetCreated", "Target.targetInfoChanged")


class _Pipe:
    """The DevTools protocol over ``--remote-debugging-pipe``: JSON messages ended by a
    NUL byte, ours on Chromium's fd 3, its on fd 4. A thread reads every message, so
    that Chromium never blocks on a full pipe."""

    def __init__(self, to_chromium: IO[bytes], from_chromium: IO[bytes]) -> None:
        self._out = to_chromium
        self._in = from_chromium
        self._next_id = 0
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._answers: dict[int, dict[str, Any]] = {}
        self._events: list[dict[str, Any]] = []
        self._listening = True
        self.closed = False
        self._reader = threading.Thread(target=self._read, name="demo-browser-pipe", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        buffered = b""
        try:
            while chunk := self._in.read1(65536):  # type: ignore[attr-defined]
                buffered += chunk
                *messages, buffered = buffered.split(b"\0")
                with self._changed:
                    for raw in messages:
                        message = json.loads(raw)
                        if "id" in message:
                            self._answers[message["id"]] = message
                        elif self._listening:
                            self._events.append(message)
                    self._changed.notify_all()
        except (OSError, ValueError) as exc:
            log.debug("demo browser: DevTools pipe closed: %s", exc)
        finally:
            with self._changed:
                self.closed = True
                self._changed.notify_all()

    def call(
        self, method: str, params: dict[str, Any] | None = None, *, session: str | None = None
    ) -> dict[str, Any]:
        with self._lock:
            self._next_id += 1
            ident = self._next_id
        message: dict[str, Any] = {"id": ident, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        try:
            self._out.write(json.dumps(message).encode() + b"\0")
            self._out.flush()
        except (OSError, ValueError):
            # a broken pipe, or one closed here: Chromium is gone either way
            raise BrowserError("Chromium stopped") from None
        deadline = time.monotonic() + SETUP_TIMEOUT_S
        with self._changed:
            while ident not in self._answers:
                left = deadline - time.monotonic()
                if self.closed:
                    raise BrowserError("Chromium stopped")
                if left <= 0:
                    raise BrowserError(f"Chromium did not answer {method}")
                self._changed.wait(left)
            answer = self._answers.pop(ident)
        if "error" in answer:
            raise BrowserError(f"Chromium refused {method}: {answer['error'].get('message')}")
        return dict(answer.get("result", {}))

    def wait_for_target(self, kind: str, url_prefix: str, url_suffix: str = "") -> str:
        """The id of the first target of ``kind`` whose URL fits, created or changed."""
        deadline = time.monotonic() + SETUP_TIMEOUT_S
        with self._changed:
            while True:
                for event in self._events:
                    if event.get("method") not in _TARGET_EVENTS:
                        continue
                    info = event["params"]["targetInfo"]
                    url = str(info.get("url", ""))
                    if (
                        info.get("type") == kind
                        and url.startswith(url_prefix)
                        and url.endswith(url_suffix)
                    ):
                        return str(info["targetId"])
                left = deadline - time.monotonic()
                if self.closed:
                    raise BrowserError("Chromium stopped")
                if left <= 0:
                    raise BrowserError(f"Chromium showed no {kind} at {url_prefix}…{url_suffix}")
                self._changed.wait(left)

    def close(self) -> None:
        """Close our ends (Chromium takes a closed pipe as the end of its session)."""
        for end in (self._out, self._in):
            with contextlib.suppress(OSError):
                end.close()

    def stop_listening(self) -> None:
        with self._lock:
            self._listening = False
            self._events.clear()


@dataclasses.dataclass
class DemoBrowser:
    """A running demo browser; ``stop()`` ends it and removes its profile."""

    process: subprocess.Popen[bytes]
    profile: Path
    log_file: Path
    pipe: _Pipe | None = None

    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        if self.running():
            # the whole session it leads: Chromium and its helper processes
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout)
        if self.pipe is not None:
            self.pipe.close()
        shutil.rmtree(self.profile, ignore_errors=True)

    def last_words(self, lines: int = 2) -> str:
        """The last errors Chromium logged (without their [pid:tid:time:LEVEL:file]
        prefix, and without the noise of a machine with no D-Bus), to say why it stopped."""
        try:
            text = self.log_file.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        errors = [
            line[match.end() :].strip()
            for line in text
            if (match := _LOG_PREFIX.match(line))
            and match.group(1) in ("ERROR", "FATAL")
            and not match.group(2).startswith(_LOG_NOISE)
        ]
        return " / ".join(errors[-lines:] or [line.strip() for line in text[-lines:]])


def launch(
    chrome: str,
    extension: Path,
    site: DemoSite,
    api_url: str,
    workdir: Path,
    *,
    headless: bool = False,
) -> DemoBrowser:
    """Start Chromium on a fresh profile under ``workdir``, set the extension's server
    to ``api_url`` and open ``site.start_url``; BrowserError when it cannot."""
    profile = workdir / "profile"
    shutil.rmtree(profile, ignore_errors=True)
    profile.mkdir(parents=True)
    log_file = workdir / "chromium.log"
    api_host = api_url.split("://", 1)[1].rpartition(":")[0]
    args = [
        chrome,
        f"--user-data-dir={profile}",
        "--remote-debugging-pipe",
        *chromium_args(extension, site, reachable=[api_host], headless=headless),
    ]
    args.append("about:blank")
    chromium_reads, ours_to_chromium = os.pipe()
    ours_from_chromium, chromium_writes = os.pipe()
    with log_file.open("wb") as log_out:
        # its own session, so that a Ctrl-C at the terminal reaches `up`, which stops
        # the browser once
        process = subprocess.Popen(
            [sys.executable, "-c", _ON_FDS_3_AND_4, str(chromium_reads), str(chromium_writes)]
            + args,
            stdin=subprocess.DEVNULL,
            stdout=log_out,
            stderr=subprocess.STDOUT,
            pass_fds=(chromium_reads, chromium_writes),
            start_new_session=True,
        )
    os.close(chromium_reads)
    os.close(chromium_writes)
    pipe = _Pipe(os.fdopen(ours_to_chromium, "wb"), os.fdopen(ours_from_chromium, "rb"))
    browser = DemoBrowser(process, profile, log_file, pipe)
    try:
        _set_up(pipe, api_url, site.start_url)
    except BrowserError as exc:
        # a Chromium that cannot start says why in its last lines
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(5)
        why = browser.last_words() if not browser.running() else ""
        browser.stop()
        raise BrowserError(f"{exc}{': ' + why if why else ''}") from None
    return browser


# --remote-debugging-pipe reads fd 3 and writes fd 4: this puts the pipe's ends there
# and becomes Chromium (no preexec_fn: `up` runs threads; no shell: dash knows fds 0-9)
_ON_FDS_3_AND_4 = """
import fcntl, os, sys
reads, writes = (fcntl.fcntl(int(fd), fcntl.F_DUPFD, 5) for fd in sys.argv[1:3])
os.dup2(reads, 3)
os.dup2(writes, 4)
for fd in {reads, writes, *map(int, sys.argv[1:3])} - {3, 4}:
    os.close(fd)
os.execv(sys.argv[3], sys.argv[3:])
"""


def _set_up(pipe: _Pipe, api_url: str, start_url: str) -> None:
    pipe.call("Target.setDiscoverTargets", {"discover": True})
    try:
        worker = pipe.wait_for_target("service_worker", "chrome-extension://", "/background.js")
    except BrowserError as exc:
        if pipe.closed:
            raise
        raise BrowserError(
            f"{exc}: this browser did not load the extension (Google Chrome ignores "
            "--load-extension since version 137; use Chromium)"
        ) from None
    page = pipe.wait_for_target("page", "")
    session = pipe.call("Target.attachToTarget", {"targetId": worker, "flatten": True})

    def evaluate(expression: str) -> Any:
        answer = pipe.call(
            "Runtime.evaluate",
            {"expression": expression, "awaitPromise": True, "returnByValue": True},
            session=session["sessionId"],
        )
        return answer.get("result", {}).get("value")

    # a worker caught as it starts has not got its extension APIs yet
    deadline = time.monotonic() + SETUP_TIMEOUT_S
    while evaluate("typeof chrome === 'object' && Boolean(chrome.storage)") is not True:
        if time.monotonic() > deadline:
            raise BrowserError("the extension's worker never got chrome.storage")
        time.sleep(0.1)
    if evaluate(seed_expression(api_url)) is not True:
        raise BrowserError("the extension did not take its server URL")
    pipe.call("Target.detachFromTarget", {"sessionId": session["sessionId"]})
    pipe.stop_listening()
    pipe.call("Target.setDiscoverTargets", {"discover": False})
    tab = pipe.call("Target.attachToTarget", {"targetId": page, "flatten": True})
    pipe.call("Page.navigate", {"url": start_url}, session=tab["sessionId"])
    pipe.call("Target.detachFromTarget", {"sessionId": tab["sessionId"]})


def wait_for_port(url: str, stop: threading.Event, timeout: float = SETUP_TIMEOUT_S) -> bool:
    """Whether ``url``'s host and port accept a connection within ``timeout`` (False at
    once when ``stop`` is set)."""
    host, _, port = url.split("://", 1)[1].rpartition(":")
    address = (host.strip("[]"), int(port))
    deadline = time.monotonic() + timeout
    while not stop.is_set() and time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(address, 1):
            return True
        stop.wait(0.25)
    return False

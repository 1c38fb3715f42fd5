"""axe-core (npm, a devDependency of api/web/frontend) run on a page in Chromium.

axe is evaluated into the page through Playwright (``page.evaluate``: DevTools
protocol evaluation, which a page's Content-Security-Policy does not govern), not
added as a ``<script>``: the site keeps its strict CSP (``api/page_headers.py``) in
the tests exactly as real users get it, so nothing checked here runs under a weaker
policy, and no test-only route or header exists in the app.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import Any

import pytest

AXE_SOURCE = (
    Path(__file__).resolve().parents[1] / "api/web/frontend/node_modules/axe-core/axe.min.js"
)
# WCAG 2.0, 2.1 and 2.2 at levels A and AA, and Deque's best practices
TAGS = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice")
# what blocks or badly hinders someone: what the tests refuse
BLOCKING = ("serious", "critical")

_RUN = """async (tags) => {
  const results = await window.axe.run(document, {
    runOnly: { type: "tag", values: tags },
    resultTypes: ["violations"],
  });
  return results.violations.map((v) => ({
    rule: v.id,
    impact: v.impact || "",
    help: v.help,
    helpUrl: v.helpUrl,
    nodes: v.nodes.map((n) => ({
      target: n.target.map((t) => (Array.isArray(t) ? t.join(" >>> ") : String(t))).join(" "),
      summary: n.failureSummary || "",
    })),
  }));
}"""


@dataclasses.dataclass(frozen=True)
class Violation:
    """One axe rule broken on a page, and where."""

    rule: str
    impact: str
    help: str
    help_url: str
    targets: tuple[str, ...]
    summaries: tuple[str, ...]

    @property
    def blocking(self) -> bool:
        return self.impact in BLOCKING

    def describe(self) -> str:
        lines = [f"{self.rule} ({self.impact}): {self.help}  {self.help_url}"]
        for target, summary in zip(self.targets, self.summaries, strict=True):
            why = " ".join(summary.split())
            lines.append(f"    {target}  — {why}" if why else f"    {target}")
        return "\n".join(lines)


@functools.cache
def axe_source() -> str:
    if not AXE_SOURCE.is_file():
        pytest.fail(
            f"axe-core not installed at {AXE_SOURCE}: run `npm ci` in api/web/frontend "
            "(or `make web`)"
        )
    return AXE_SOURCE.read_text(encoding="utf-8")


def axe_violations(page: Any) -> list[Violation]:
    """What axe finds wrong on ``page`` as it is now (WCAG 2 A/AA and best practices)."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(axe_source())
    found = page.evaluate(_RUN, list(TAGS))
    return [
        Violation(
            rule=v["rule"],
            impact=v["impact"],
            help=v["help"],
            help_url=v["helpUrl"],
            targets=tuple(n["target"] for n in v["nodes"]),
            summaries=tuple(n["summary"] for n in v["nodes"]),
        )
        for v in found
    ]


def _rgb(css: str) -> tuple[float, float, float]:
    numbers = css[css.index("(") + 1 : css.index(")")].replace(",", " ").replace("/", " ").split()
    red, green, blue = (float(n) for n in numbers[:3])
    return red, green, blue


def contrast(first: str, second: str) -> float:
    """WCAG's contrast ratio of two CSS colours as browsers compute them (``rgb(...)``)."""

    def luminance(css: str) -> float:
        def linear(channel: float) -> float:
            c = channel / 255
            return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

        red, green, blue = (linear(c) for c in _rgb(css))
        return 0.2126 * red + 0.7152 * green + 0.0722 * blue

    light, dark = sorted((luminance(first), luminance(second)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def blocking(violations: list[Violation]) -> list[Violation]:
    return [v for v in violations if v.blocking]


def report(where: str, violations: list[Violation]) -> str:
    """A failure message: each violation's rule, impact, elements and help page."""
    if not violations:
        return f"{where}: no accessibility violations"
    return f"{where}: {len(violations)} accessibility violation(s)\n" + "\n".join(
        v.describe() for v in violations
    )


def assert_accessible(page: Any, where: str) -> list[Violation]:
    """Fail on any serious or critical violation on ``page``; the minor and moderate
    ones, returned, are for the caller to show."""
    violations = axe_violations(page)
    assert not blocking(violations), report(where, blocking(violations))
    return [v for v in violations if not v.blocking]

"""Measuring a dashboard page in Chromium: sideways scrolling, boxes that overlap or leave the window,
and Content-Security-Policy violations (recorded by the page itself, with what was blocked)."""

from __future__ import annotations

from typing import Any, Final

from playwright.sync_api import BrowserContext, Page

WIDTHS: Final = (390, 768, 1400)

# Each violation the browser reports, with the directive and a sample of what it blocked.
_RECORD_VIOLATIONS: Final = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(
    [event.violatedDirective, event.sourceFile, event.lineNumber, event.sample, event.blockedURI].join(" | ")
  );
});
"""

# The boxes of the elements matched by each selector that are shown, as [selector, index, rect].
_BOXES: Final = """
(selectors) => {
  const found = [];
  for (const selector of selectors) {
    document.querySelectorAll(selector).forEach((element, index) => {
      const rect = element.getBoundingClientRect();
      const style = getComputedStyle(element);
      if (rect.width === 0 || rect.height === 0 || style.visibility === "hidden") return;
      found.push([selector, index, {left: rect.left, top: rect.top, right: rect.right, bottom: rect.bottom}]);
    });
  }
  return found;
}
"""


def record_csp_violations(context: BrowserContext) -> None:
    """From the next page load on, every page of ``context`` keeps the violations it sees."""
    context.add_init_script(_RECORD_VIOLATIONS)


def csp_violations(page: Page) -> list[str]:
    found = page.evaluate("window.__cspViolations || []")
    return [str(line) for line in found]


def sideways_scroll(page: Page) -> int:
    """How far the page scrolls sideways (0 when it fits its window)."""
    return int(page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth"))


def boxes(page: Page, selectors: list[str]) -> list[tuple[str, dict[str, float]]]:
    found: list[Any] = page.evaluate(_BOXES, selectors)
    return [(f"{selector}[{index}]", rect) for selector, index, rect in found]


def overlapping(page: Page, selectors: list[str]) -> list[str]:
    """Pairs of shown boxes (of different elements) that overlap by more than half a pixel."""
    shown = boxes(page, selectors)
    pairs: list[str] = []
    for position, (name, rect) in enumerate(shown):
        for other_name, other in shown[position + 1 :]:
            width = min(rect["right"], other["right"]) - max(rect["left"], other["left"])
            height = min(rect["bottom"], other["bottom"]) - max(rect["top"], other["top"])
            if width > 0.5 and height > 0.5:
                pairs.append(f"{name} {rect} overlaps {other_name} {other}")
    return pairs


def outside_window(page: Page, selectors: list[str]) -> list[str]:
    """Shown boxes that reach past the window's left or right edge."""
    width = float(page.evaluate("document.documentElement.clientWidth"))
    return [
        f"{name} {rect}"
        for name, rect in boxes(page, selectors)
        if rect["left"] < -0.5 or rect["right"] > width + 0.5
    ]


def clipped_by_scroller(page: Page, selector: str) -> list[str]:
    """Elements matched by ``selector`` that their nearest sideways-scrolling ancestor hides (partly)."""
    found: list[str] = page.evaluate(
        """(selector) => {
          const hidden = [];
          document.querySelectorAll(selector).forEach((element) => {
            const rect = element.getBoundingClientRect();
            if (rect.width === 0) return;
            for (let up = element.parentElement; up; up = up.parentElement) {
              const overflow = getComputedStyle(up).overflowX;
              if (overflow === "visible") continue;
              const box = up.getBoundingClientRect();
              if (rect.left < box.left - 0.5 || rect.right > box.right + 0.5) {
                hidden.push(element.id || element.outerHTML.slice(0, 80));
              }
              break;
            }
          });
          return hidden;
        }""",
        selector,
    )
    return found

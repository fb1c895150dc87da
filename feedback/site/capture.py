"""A visited route's readiness and its screenshots: event-driven waits and cheap PNG captures.

Readiness, instead of a fixed pause: the page has loaded its fonts and shown two animation frames with the app
mounted, none of its requests is still in flight, and none of its own calls (fetch, XHR, a lazy route's dynamic
import) waits or was answered during those frames (each wait capped). Screenshots are taken through the DevTools
protocol with fast PNG encoding: the viewport, and the whole page (up to a height) when it is taller; two direct
captures cost less than one capture cropped and re-encoded in Python. Finite CSS and Web animations are finished
and endless ones stopped first, so that a fade-in is caught in its final state.
"""

from __future__ import annotations

import asyncio
import base64
import time
from typing import Any

from webgen.core.settings import SiteSettings
from webgen.feedback.site.page_session import Session

#: Finish the animations that end and stop the endless ones (what a still screenshot of the page should show);
#: returns how many endless ones it stopped (a spinner: the page is still loading something).
STILL_JS = """() => {
  let endless = 0;
  for (const animation of document.getAnimations()) {
    try {
      const end = animation.effect ? animation.effect.getComputedTiming().endTime : Infinity;
      if (Number.isFinite(end)) animation.finish(); else { animation.cancel(); endless += 1; }
    } catch (e) {}
  }
  return endless;
}"""
_NAVIGATE_JS = "history.pushState({}, '', route); window.dispatchEvent(new PopStateEvent('popstate', {state: {}}));"
_READY_JS = "document.readyState === 'complete' && (!document.getElementById('root') || "
_READY_JS += "document.getElementById('root').childElementCount > 0)"
# The page's own count of its fetch/XHR calls and dynamic imports (page_session.REQUESTS_JS): quiet when none
# waited as the probe began or ended, and none was answered while it waited for the frames (the answer may not be
# shown yet).
_COUNT_JS = "(window.__webgenRequests || { pending: 0, done: 0 })"
_WAITING_POLL_S = 0.03  # between probes while one of the page's calls still waits (the probe itself costs a little)


def ready_probe_js(probe_js: str) -> str:
    """One round trip: go to `route` in-page (when given), wait for the fonts and two animation frames, finish the
    animations, then `{ready, quiet, waiting, stats}`: whether the document has loaded and the app mounted,
    whether the page's calls were all answered and shown (see `_COUNT_JS`), whether one still waits, and
    what `probe_js` saw (plus `endless`: the looping animations it stopped)."""
    return (
        f"async (route) => {{ if (route) {{ {_NAVIGATE_JS} }} await document.fonts.ready; "
        f"const count = {_COUNT_JS}, waiting = count.pending, answered = count.done; "
        "await new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done))); "
        "const quiet = waiting === 0 && count.pending === 0 && count.done === answered; "
        f"const ready = {_READY_JS}; const endless = ({STILL_JS})(); "
        f"return {{ ready, quiet, waiting: count.pending > 0, stats: {{ ...({probe_js})(), endless }} }}; }}"
    )


def settle_cap_s(config: SiteSettings) -> float:
    """The longest a route waits to be ready before it is probed as it is."""
    return max(config.settle_ms * 4, 1000) / 1000


async def settle_and_probe(session: Session, config: SiteSettings, js: str, route: str | None) -> dict[str, Any]:
    """The probe's stats once the route is ready (see the module doc), or as it is after `settle_cap_s`.

    `js` is a `ready_probe_js`; `route` is the route to go to in-page, None after a full load. A page whose
    requests are still in flight when it is ready (or whose own calls were not all answered and shown) is
    probed again once they are done.
    """
    deadline = time.monotonic() + settle_cap_s(config)
    stats: dict[str, Any] | None = None
    endless = 0  # looping animations stopped by any of the probes (a later probe no longer sees them)
    while (left := deadline - time.monotonic()) > 0:
        try:
            result = await asyncio.wait_for(session.page.evaluate(js, route), left)
        except TimeoutError:
            break
        except Exception:  # the page navigated away under the call (a redirect): ask the new document
            if session.crashed:
                raise
            await asyncio.sleep(0.02)
            continue
        finally:
            route = None  # navigate once
        stats = result["stats"]
        endless = stats["endless"] = max(endless, stats.get("endless", 0))
        if result["ready"] and result["quiet"] and not session.inflight:
            return stats
        if result["ready"]:  # then probed again, once the network is idle and the page's calls are answered
            await session.wait_idle(deadline - time.monotonic())
            if result["waiting"]:
                await asyncio.sleep(_WAITING_POLL_S)
    if stats is None:  # never got an answer in time: one last probe, under the caller's page timeout
        stats = (await session.page.evaluate(js, route))["stats"]
    return stats


async def _capture(session: Session, clip: dict[str, float] | None) -> bytes:
    params: dict[str, Any] = {"format": "png", "optimizeForSpeed": True}
    if clip is not None:
        params.update(clip={**clip, "scale": 1}, captureBeyondViewport=True)
    reply = await (await session.devtools()).send("Page.captureScreenshot", params)
    return base64.b64decode(reply["data"])


async def screenshots(session: Session, config: SiteSettings, page_height: int) -> tuple[bytes, bytes]:
    """(viewport PNG, full-page PNG): the same bytes when the page fits the viewport or full pages are off.

    Taken after `settle_and_probe`, which has finished the page's animations."""
    shot = await _capture(session, None)
    if not config.full_page or page_height <= config.viewport_height:
        return shot, shot
    height = min(page_height, config.full_page_max_height)
    full = await _capture(session, {"x": 0, "y": 0, "width": config.viewport_width, "height": height})
    return shot, full

// Set-of-marks labelling for webgen.feedback.webvoyager, evaluated in the page as a function of one argument:
//   {mode: "mark"}              draw a dashed box with a numeric label over every visible, innermost interactive
//                               element in the viewport (document order, labels from 0); returns one line per
//                               element: '[n]: <tag> "text"' (text under 200 characters, else left out)
//   {mode: "unmark"}            remove the overlay (the labelled elements stay remembered for acting on them)
//   {mode: "element", index: n} the element that carried label n at the last "mark", or null
(args) => {
  const STORE = "__webgenSetOfMarks";
  const OVERLAY = "__webgen-set-of-marks";
  const TAGS = new Set(["INPUT", "TEXTAREA", "SELECT", "BUTTON", "A", "IFRAME", "VIDEO", "LI", "TD", "OPTION"]);
  const MIN_AREA = 20;
  const MAX_TEXT = 200;

  if (args.mode === "element") {
    const marked = window[STORE] || [];
    return marked[args.index] || null;
  }
  const old = document.getElementById(OVERLAY);
  if (old) old.remove();
  if (args.mode === "unmark") return [];

  const viewWidth = window.innerWidth;
  const viewHeight = window.innerHeight;

  // The part of the element inside the viewport, as one rectangle; null when too little of it shows.
  const visibleBox = (el) => {
    let left = Infinity, top = Infinity, right = -Infinity, bottom = -Infinity;
    for (const rect of el.getClientRects()) {
      const l = Math.max(rect.left, 0), t = Math.max(rect.top, 0);
      const r = Math.min(rect.right, viewWidth), b = Math.min(rect.bottom, viewHeight);
      if (r <= l || b <= t) continue;
      left = Math.min(left, l);
      top = Math.min(top, t);
      right = Math.max(right, r);
      bottom = Math.max(bottom, b);
    }
    if (left === Infinity || (right - left) * (bottom - top) < MIN_AREA) return null;
    return { left, top, width: right - left, height: bottom - top };
  };

  // Not hidden and not covered by something else at its centre.
  const shown = (el, box) => {
    if (getComputedStyle(el).visibility === "hidden") return false;
    const hit = document.elementFromPoint(box.left + box.width / 2, box.top + box.height / 2);
    return hit !== null && (hit === el || el.contains(hit));
  };

  // cursor:pointer counts where it starts, not on the children that merely inherit it.
  const pointerStarts = (el) => {
    if (getComputedStyle(el).cursor !== "pointer") return false;
    const parent = el.parentElement;
    return !parent || getComputedStyle(parent).cursor !== "pointer";
  };

  const interactive = (el) =>
    TAGS.has(el.tagName) || el.hasAttribute("onclick") || typeof el.onclick === "function" || pointerStarts(el);

  const describe = (el) => {
    const squash = (s) => (s || "").replace(/\s+/g, " ").trim();
    let text = squash(el.innerText || el.textContent);
    if (!text) text = squash(el.getAttribute("aria-label") || el.getAttribute("placeholder"));
    return text.length < MAX_TEXT ? text : "";
  };

  const candidates = [];
  for (const el of document.querySelectorAll("body *")) {
    if (!interactive(el)) continue;
    const box = visibleBox(el);
    if (box && shown(el, box)) candidates.push({ el, box });
  }
  // Innermost only: an element that contains another candidate is left out.
  const outer = new Set();
  const chosen = new Set(candidates.map((c) => c.el));
  for (const { el } of candidates) {
    for (let up = el.parentElement; up; up = up.parentElement) {
      if (chosen.has(up)) outer.add(up);
    }
  }
  const marks = candidates.filter((c) => !outer.has(c.el));

  const overlay = document.createElement("div");
  overlay.id = OVERLAY;
  overlay.setAttribute("aria-hidden", "true");
  overlay.style.cssText =
    "position:fixed;left:0;top:0;width:100vw;height:100vh;pointer-events:none;z-index:2147483647;margin:0;padding:0;";
  marks.forEach(({ box }, label) => {
    const frame = document.createElement("div");
    frame.style.cssText =
      `position:absolute;left:${box.left}px;top:${box.top}px;width:${box.width}px;height:${box.height}px;` +
      "border:2px dashed #000;box-sizing:border-box;";
    const tag = document.createElement("span");
    tag.textContent = String(label);
    const above = box.top >= 16 ? "top:-16px;" : "top:0;";
    tag.style.cssText =
      `position:absolute;left:-2px;${above}background:#000;color:#fff;font:bold 12px/14px monospace;` +
      "padding:0 3px;white-space:nowrap;";
    frame.appendChild(tag);
    overlay.appendChild(frame);
  });
  (document.body || document.documentElement).appendChild(overlay);
  window[STORE] = marks.map((c) => c.el);
  return marks.map(({ el }, label) => {
    const text = describe(el);
    return `[${label}]: <${el.tagName.toLowerCase()}>` + (text ? ` "${text}"` : "");
  });
}

// Evaluated in the page after it settles: DOM statistics and same-origin links (one round trip).
() => {
  const body = document.body;
  const text = ((body && body.innerText) || "").trim();
  const interactive = document.querySelectorAll(
    'a[href], button, input, select, textarea, [role="button"], [onclick], [contenteditable="true"]'
  ).length;
  const images = Array.from(document.images);
  const broken = images
    .filter((img) => img.complete && img.naturalWidth === 0 && (img.currentSrc || img.src))
    .map((img) => img.currentSrc || img.src);
  const links = [];
  for (const a of document.querySelectorAll("a[href]")) {
    try {
      const url = new URL(a.getAttribute("href"), location.href);
      if (url.origin !== location.origin) continue;
      const hashRoute = url.hash.startsWith("#/") ? url.hash : "";
      links.push(url.pathname + hashRoute);
    } catch (e) {}
  }
  return {
    text_length: text.length,
    interactive_elements: interactive,
    images: images.length,
    media_elements: document.querySelectorAll("img, svg, canvas, video").length,
    broken_image_urls: broken.slice(0, 20),
    page_height: Math.max(document.documentElement.scrollHeight, body ? body.scrollHeight : 0),
    links: Array.from(new Set(links)).slice(0, 50),
    title: document.title || "",
  };
}

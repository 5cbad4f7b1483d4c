// Field settings: show the settings that belong to the chosen type, and redraw the form preview
// while the admin edits. Without JavaScript every setting stays visible and the "Preview" button
// posts the draft to the same page, which draws the same preview server-side.
(() => {
  "use strict";

  const form = document.getElementById("field-form");
  if (!form) return;
  const preview = () => document.getElementById("field-preview");
  const typeInput = document.getElementById("f-type-value") || document.getElementById("f-type");

  function currentType() {
    return typeInput ? typeInput.value : "";
  }

  function showSettings() {
    const kind = currentType();
    const computed = kind === "formula" || kind === "rollup";
    form.querySelectorAll(".computed-settings, .type-settings").forEach((box) => {
      box.hidden = box.dataset.for !== kind;
    });
    form.querySelectorAll(".stored-settings").forEach((box) => { box.hidden = computed; });
    const options = form.querySelector("[name=options]");
    const wrapper = options && options.closest(".field");
    if (wrapper) wrapper.hidden = !(kind === "single_select" || kind === "multi_select");
  }

  let timer = null;
  let inFlight = null;

  async function refresh() {
    const target = preview();
    if (!target) return;
    if (inFlight) inFlight.abort();
    inFlight = new AbortController();
    const body = new FormData(form);
    body.delete("preview");
    try {
      const response = await fetch(form.dataset.previewUrl, {
        method: "POST",
        body,
        credentials: "same-origin",
        signal: inFlight.signal,
        headers: { Accept: "text/html" },
      });
      if (!response.ok) return; // keep the last good preview
      const holder = document.createElement("div");
      holder.innerHTML = await response.text();
      const fresh = holder.querySelector("#field-preview");
      if (fresh) target.replaceWith(fresh);
    } catch (err) {
      if (err.name !== "AbortError") console.warn("preview failed", err);
    }
  }

  function schedule() {
    window.clearTimeout(timer);
    timer = window.setTimeout(refresh, 250);
  }

  form.addEventListener("input", schedule);
  form.addEventListener("change", () => { showSettings(); schedule(); });
  const button = document.getElementById("preview-button");
  if (button) button.hidden = true; // the preview follows the edits by itself
  showSettings();
})();

// The top bar's search box: "/" focuses it; typing lists the best matches (the form still works
// without JavaScript: Enter opens the results page).
(() => {
  "use strict";
  const DELAY_MS = 150;

  function escapeHtml(text) {
    const div = document.createElement("div");
    div.textContent = text == null ? "" : String(text);
    return div.innerHTML;
  }

  function setup(form) {
    const input = form.querySelector("input[type=search]");
    const list = form.querySelector("[role=listbox]");
    if (!input || !list || !form.dataset.suggest) return;
    let timer = null;
    let active = -1;
    let lastQuery = "";
    let controller = null;

    const options = () => Array.from(list.querySelectorAll("li[data-url]"));

    function close() {
      list.hidden = true;
      list.innerHTML = "";
      input.setAttribute("aria-expanded", "false");
      input.removeAttribute("aria-activedescendant");
      active = -1;
    }

    function highlight(index) {
      const items = options();
      items.forEach((li, i) => li.setAttribute("aria-selected", i === index ? "true" : "false"));
      active = index;
      if (index >= 0 && items[index]) input.setAttribute("aria-activedescendant", items[index].id);
      else input.removeAttribute("aria-activedescendant");
    }

    function render(data) {
      list.innerHTML = "";
      if (!data.items.length) {
        list.innerHTML = `<li class="s-empty" role="option" aria-disabled="true">No matches for “${escapeHtml(data.query)}”</li>`;
      }
      data.items.forEach((item, i) => {
        if (!item.url) return;
        const li = document.createElement("li");
        li.id = `global-search-option-${i}`;
        li.setAttribute("role", "option");
        li.dataset.url = item.url;
        li.innerHTML =
          `<span class="s-type">${escapeHtml(item.type_label)}</span>` +
          `<span class="s-title">${escapeHtml(item.title)}</span>` +
          (item.subtitle ? `<span class="s-sub">${escapeHtml(item.subtitle)}</span>` : "");
        list.appendChild(li);
      });
      if (data.all_results_url) {
        const li = document.createElement("li");
        li.id = "global-search-option-all";
        li.className = "s-all";
        li.setAttribute("role", "option");
        li.dataset.url = data.all_results_url;
        li.textContent = "See all results";
        list.appendChild(li);
      }
      list.hidden = false;
      input.setAttribute("aria-expanded", "true");
      active = -1;
    }

    async function fetchSuggestions() {
      const q = input.value.trim();
      if (!q) { close(); lastQuery = ""; return; }
      if (q === lastQuery && !list.hidden) return;
      lastQuery = q;
      if (controller) controller.abort();
      controller = new AbortController();
      try {
        const url = `${form.dataset.suggest}?q=${encodeURIComponent(q)}`;
        const response = await fetch(url, {
          headers: { Accept: "application/json" }, credentials: "same-origin", signal: controller.signal,
        });
        if (!response.ok) return;
        const data = await response.json();
        if (input.value.trim() === data.query) render(data);
      } catch (err) {
        if (err.name !== "AbortError") close();
      }
    }

    input.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(fetchSuggestions, DELAY_MS);
    });
    // IME composition (Chinese, Japanese, Korean input): suggest once the text is committed.
    input.addEventListener("compositionend", () => {
      clearTimeout(timer);
      timer = setTimeout(fetchSuggestions, DELAY_MS);
    });
    input.addEventListener("keydown", (ev) => {
      const items = options();
      if (ev.key === "ArrowDown" && items.length) {
        ev.preventDefault();
        highlight((active + 1) % items.length);
      } else if (ev.key === "ArrowUp" && items.length) {
        ev.preventDefault();
        highlight(active <= 0 ? items.length - 1 : active - 1);
      } else if (ev.key === "Enter" && active >= 0 && items[active] && !ev.isComposing) {
        ev.preventDefault();
        window.location.assign(items[active].dataset.url);
      } else if (ev.key === "Escape") {
        close();
      }
    });
    list.addEventListener("mousedown", (ev) => {
      const li = ev.target.closest("li[data-url]");
      if (li) {
        ev.preventDefault();
        window.location.assign(li.dataset.url);
      }
    });
    input.addEventListener("blur", () => setTimeout(close, 150));
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("form.global-search").forEach(setup);
    document.addEventListener("keydown", (ev) => {
      if (ev.key !== "/" || ev.ctrlKey || ev.metaKey || ev.altKey) return;
      const target = ev.target;
      const typing = target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName);
      if (typing) return;
      const box = document.getElementById("global-search-q");
      if (box) { ev.preventDefault(); box.focus(); box.select(); }
    });
  });
})();

// Sign-up: suggest a workspace address from the company name and check it as it is typed.
// The form works without this script; the server validates everything again.
(() => {
  const form = document.getElementById("signup-form");
  if (!form) return;
  const company = form.querySelector("[name=company_name]");
  const slug = form.querySelector("[name=slug]");
  const status = document.getElementById("slug-status");
  const checkUrl = form.dataset.checkUrl;
  // Once the person edits the address themselves, stop overwriting it.
  let edited = slug.value !== "";
  let timer = null;
  let latest = 0;

  const suggest = (name) =>
    name
      .normalize("NFKD")
      .replace(/[\u0300-\u036f]/g, "")
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, "-")
      .replace(/^-+|-+$/g, "")
      .replace(/-{2,}/g, "-")
      .slice(0, 40)
      .replace(/-+$/g, "");

  const show = (message, ok) => {
    // The live answer replaces the server's message for the address, so it is never said twice.
    const served = document.getElementById("e-slug");
    if (served) served.remove();
    status.textContent = message;
    status.className = ok ? "help ok" : "error";
  };

  const check = () => {
    const value = slug.value.trim().toLowerCase();
    if (!value) {
      status.textContent = "";
      return;
    }
    const ticket = ++latest;
    fetch(`${checkUrl}?slug=${encodeURIComponent(value)}`, {
      headers: { Accept: "application/json" },
      credentials: "same-origin",
    })
      .then((response) => response.json())
      .then((data) => {
        // Answers can arrive out of order; only the newest question counts.
        if (ticket === latest) show(data.message, data.available);
      })
      .catch(() => {
        if (ticket === latest) status.textContent = "";
      });
  };

  const later = () => {
    window.clearTimeout(timer);
    timer = window.setTimeout(check, 250);
  };

  company.addEventListener("input", () => {
    if (edited) return;
    slug.value = suggest(company.value);
    later();
  });
  slug.addEventListener("input", () => {
    edited = slug.value !== "";
    later();
  });
  // A page the server sent back with its own message for the address needs no second opinion.
  if (slug.value && !document.getElementById("e-slug")) check();
})();

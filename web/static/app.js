// Small progressive enhancements; every page works without JavaScript.
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-confirm]").forEach((el) => {
    el.addEventListener("submit", (ev) => {
      if (!window.confirm(el.dataset.confirm)) ev.preventDefault();
    });
  });
});

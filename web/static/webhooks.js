// Webhook settings: "Select all" / "Clear" for the event checkboxes.
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-check-all]").forEach((button) => {
    button.addEventListener("click", () => {
      const on = button.dataset.checkAll === "on";
      button.closest("fieldset").querySelectorAll('input[type="checkbox"]').forEach((box) => {
        box.checked = on;
      });
    });
  });
});

// Drag-and-drop for the deal board. Without JavaScript every card keeps its "Move to…" form,
// which posts to the same endpoint; this only adds dragging on top of it.
(() => {
  "use strict";

  function csrfToken(card) {
    const field = card.querySelector("input[name=csrf_token]");
    const meta = document.querySelector("meta[name=csrf-token]");
    return field ? field.value : meta ? meta.content : "";
  }

  function dropIndex(list, y) {
    const cards = [...list.querySelectorAll(".kanban-card:not(.dragging)")];
    const after = cards.findIndex((c) => {
      const box = c.getBoundingClientRect();
      return y < box.top + box.height / 2;
    });
    return after === -1 ? cards.length : after;
  }

  async function move(card, stageId, position, lostReason) {
    const body = new FormData();
    body.set("stage_id", stageId);
    body.set("position", String(position));
    if (lostReason) body.set("lost_reason", lostReason);
    const response = await fetch(card.dataset.moveUrl, {
      method: "POST",
      body,
      credentials: "same-origin",
      headers: { "X-CSRF-Token": csrfToken(card), Accept: "application/json" },
    });
    if (response.ok) return window.location.reload();
    let data = {};
    try { data = await response.json(); } catch (_err) { /* not JSON: a plain error page */ }
    const errors = data.errors || {};
    if (errors.lost_reason && !lostReason) {
      const reasons = card.closest("[data-loss-reasons]")?.dataset.lossReasons;
      const reason = window.prompt("Why was this deal lost?" + (reasons ? ` (${reasons})` : ""));
      if (reason && reason.trim()) return move(card, stageId, position, reason.trim());
    } else {
      const first = Object.values(errors).flat()[0];
      window.alert(first || data.message || "The deal could not be moved. Reload and try again.");
    }
    window.location.reload();
  }

  // The toast offering to undo the last move: dismissable, and gone on its own after a while
  // (the server offers it once; a reload drops it too).
  function setUpUndoToast() {
    const toast = document.querySelector("[data-undo-toast]");
    if (!toast) return;
    const close = () => toast.remove();
    const dismiss = toast.querySelector("[data-undo-dismiss]");
    if (dismiss) {
      dismiss.hidden = false;
      dismiss.addEventListener("click", close);
    }
    let timer = window.setTimeout(close, 20000);
    // Not while someone is about to press it.
    toast.addEventListener("focusin", () => window.clearTimeout(timer));
    toast.addEventListener("mouseenter", () => window.clearTimeout(timer));
    toast.addEventListener("mouseleave", () => { timer = window.setTimeout(close, 20000); });
    document.addEventListener("keydown", (ev) => { if (ev.key === "Escape") close(); });
  }

  document.addEventListener("DOMContentLoaded", () => {
    setUpUndoToast();
    const board = document.getElementById("kanban");
    if (!board) return;
    let dragged = null;
    board.addEventListener("dragstart", (ev) => {
      const card = ev.target.closest && ev.target.closest(".kanban-card");
      if (!card) return;
      dragged = card;
      card.classList.add("dragging");
      ev.dataTransfer.effectAllowed = "move";
      ev.dataTransfer.setData("text/plain", card.dataset.dealId);
    });
    board.addEventListener("dragend", () => {
      if (dragged) dragged.classList.remove("dragging");
      board.querySelectorAll(".drop-target").forEach((c) => c.classList.remove("drop-target"));
    });
    board.querySelectorAll(".kanban-column").forEach((column) => {
      column.addEventListener("dragover", (ev) => {
        if (!dragged) return;
        ev.preventDefault();
        ev.dataTransfer.dropEffect = "move";
        column.classList.add("drop-target");
      });
      column.addEventListener("dragleave", (ev) => {
        if (!column.contains(ev.relatedTarget)) column.classList.remove("drop-target");
      });
      column.addEventListener("drop", (ev) => {
        ev.preventDefault();
        column.classList.remove("drop-target");
        if (!dragged) return;
        const card = dragged;
        dragged = null;
        const list = column.querySelector(".kanban-cards");
        const position = dropIndex(list, ev.clientY);
        const cards = [...list.querySelectorAll(".kanban-card:not(.dragging)")];
        list.insertBefore(card, cards[position] || null); // show it where it lands right away
        card.classList.remove("dragging");
        move(card, column.dataset.stageId, position, "");
      });
    });
  });
})();

// The workflow builder: show each action row's inputs for its type only, and re-render the form
// when the record type or trigger changes (the server lists that type's fields). Without this
// script every input shows and the "Show its fields" button re-renders.
(function () {
  "use strict";
  var form = document.getElementById("workflow-builder");
  if (!form) return;
  function showFor(row) {
    var type = row.querySelector("[data-action-type]").value;
    row.querySelectorAll("[data-for]").forEach(function (group) {
      group.hidden = group.getAttribute("data-for") !== type;
    });
  }
  form.querySelectorAll("[data-action-row]").forEach(function (row) {
    showFor(row);
    row.querySelector("[data-action-type]").addEventListener("change", function () { showFor(row); });
  });
  // A condition's value input suggests the chosen field's options, members or stages.
  form.querySelectorAll(".condition-row").forEach(function (row) {
    var field = row.querySelector("select[name$='-field']");
    var value = row.querySelector("input[name$='-value']");
    field.addEventListener("change", function () {
      var id = "options-" + field.value;
      if (document.getElementById(id)) value.setAttribute("list", id);
      else value.removeAttribute("list");
    });
  });
  form.querySelectorAll(".js-hidden").forEach(function (el) { el.remove(); });
  form.querySelectorAll("[data-refresh]").forEach(function (select) {
    select.addEventListener("change", function () {
      var flag = document.createElement("input");
      flag.type = "hidden";
      flag.name = "refresh";
      flag.value = "1";
      form.appendChild(flag);
      form.submit();
    });
  });
})();

// List views: offer only the operators that apply to the chosen field of each filter row.
// Without this script every operator is offered and the server names the ones that do not apply.
(function () {
  "use strict";
  function restrict(row, kinds) {
    var field = row.querySelector('select[name="ff"]');
    var op = row.querySelector('select[name="fo"]');
    if (!field || !op) return;
    var chosen = field.options[field.selectedIndex];
    var allowed = chosen && chosen.dataset.kind ? kinds[chosen.dataset.kind] : null;
    Array.prototype.forEach.call(op.options, function (option) {
      var ok = !allowed || allowed.indexOf(option.value) !== -1;
      option.hidden = !ok;
      option.disabled = !ok;
    });
    if (op.selectedOptions.length && op.selectedOptions[0].disabled) {
      var first = Array.prototype.find.call(op.options, function (o) { return !o.disabled; });
      if (first) op.value = first.value;
    }
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form.filter-bar").forEach(function (form) {
      var kinds = JSON.parse(form.dataset.kindOperators || "{}");
      form.querySelectorAll(".filter-row").forEach(function (row) {
        restrict(row, kinds);
        row.querySelector('select[name="ff"]').addEventListener("change", function () {
          restrict(row, kinds);
        });
      });
    });
  });
})();

// The account page: offer the browser's own time zone when the list has it.
(function () {
  var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  var select = document.getElementById("f-timezone");
  var button = document.getElementById("use-browser-zone");
  if (!zone || !select || !button) return;
  var known = Array.prototype.some.call(select.options, function (o) { return o.value === zone; });
  if (!known) return;
  button.hidden = false;
  button.textContent = "Use this browser's zone (" + zone.replace(/_/g, " ") + ")";
  button.addEventListener("click", function () { select.value = zone; });
})();

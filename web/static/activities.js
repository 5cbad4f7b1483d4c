// Visit check-in: before the form is sent, ask the browser for the position (if it has one and
// the person allows it) and put it in the hidden fields. Without it the check-in still happens.
(function () {
  "use strict";
  function describe(coords) {
    return "Location: " + coords.latitude.toFixed(5) + ", " + coords.longitude.toFixed(5) +
      " (±" + Math.round(coords.accuracy) + " m)";
  }
  function setup(form) {
    var status = form.querySelector(".geo-status");
    var asked = false;
    form.addEventListener("submit", function (event) {
      if (asked || !("geolocation" in navigator)) { return; }
      event.preventDefault();
      asked = true;
      var button = form.querySelector("button[type=submit]");
      if (button) { button.disabled = true; }
      if (status) { status.textContent = "Finding your location…"; }
      var send = function () { if (button) { button.disabled = false; } form.requestSubmit ? form.requestSubmit() : form.submit(); };
      navigator.geolocation.getCurrentPosition(function (position) {
        form.elements.latitude.value = position.coords.latitude;
        form.elements.longitude.value = position.coords.longitude;
        form.elements.accuracy.value = position.coords.accuracy;
        if (status) { status.textContent = describe(position.coords); }
        send();
      }, function () {
        if (status) { status.textContent = "Location not available: checking in without it."; }
        send();
      }, { enableHighAccuracy: true, timeout: 10000, maximumAge: 60000 });
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form[data-geolocate]").forEach(setup);
  });
})();

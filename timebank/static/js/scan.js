// The scan page: when the event checks distance, offer the phone's location with the form.
// Never required: a refusal or a slow fix leaves the fields empty and the button works.
(function () {
  "use strict";
  var form = document.querySelector("form.scan-form[data-locate]");
  if (!form || !navigator.geolocation) return;
  var status = document.getElementById("scan-location");
  navigator.geolocation.getCurrentPosition(
    function (position) {
      form.elements.latitude.value = position.coords.latitude.toFixed(6);
      form.elements.longitude.value = position.coords.longitude.toFixed(6);
      if (status) status.textContent = status.getAttribute("data-found");
    },
    function () {},
    { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 }
  );
})();

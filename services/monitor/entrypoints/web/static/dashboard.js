// Replaces the live part of the page with each server-rendered update (no reload).
(function () {
  "use strict";
  var live = document.getElementById("live");
  var status = document.getElementById("connection");
  var source = new EventSource("/events?lang=" + encodeURIComponent(live.dataset.lang));
  source.addEventListener("open", function () {
    status.textContent = status.dataset.live;
    status.className = "on";
  });
  source.addEventListener("error", function () {
    status.textContent = status.dataset.offline;
    status.className = "off";
    if (source.readyState === EventSource.CLOSED) {
      // Refused rather than dropped: the session ended with its assertion. Reloading
      // the page signs in again through review's hand-off.
      window.location.reload();
    }
  });
  source.addEventListener("update", function (message) {
    live.innerHTML = JSON.parse(message.data).html;
  });
})();

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
  });
  source.addEventListener("update", function (message) {
    live.innerHTML = JSON.parse(message.data).html;
  });
})();

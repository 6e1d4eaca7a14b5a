// The emergency notice page's "on the screens" panel: every few seconds,
// asks the server which targeted screens confirmed the notice is on their
// glass, and writes each screen's line as the server words it.
(function () {
  "use strict";
  var panel = document.querySelector("section[data-acks]");
  if (!panel) return;
  var url = panel.getAttribute("data-acks");
  var EVERY_MS = 3000;

  function refresh() {
    fetch(url, { credentials: "same-origin", cache: "no-store" })
      .then(function (res) {
        if (!res.ok) throw new Error("HTTP " + res.status);
        return res.json();
      })
      .then(function (data) {
        (data.screens || []).forEach(function (line) {
          var row = panel.querySelector('tr[data-screen="' + Number(line.screen_id) + '"]');
          var cell = row && row.querySelector("[data-ack-status]");
          if (!cell) return;
          cell.textContent = line.status;
          cell.setAttribute("data-confirmed", line.confirmed ? "true" : "false");
        });
      })
      .catch(function () {
        /* the next round tries again */
      })
      .then(function () {
        setTimeout(refresh, EVERY_MS);
      });
  }
  setTimeout(refresh, EVERY_MS);
})();

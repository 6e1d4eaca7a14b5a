// The watch page: follows the broadcast's status over a WebSocket and plays
// its HLS stream with hls.js (or natively on Apple devices) once video exists.
(function () {
  "use strict";
  var root = document.querySelector("[data-broadcast]");
  if (!root) return;
  var video = root.querySelector("video");
  var badge = root.querySelector("[data-state-badge]");
  var viewers = root.querySelector("[data-viewers]");
  var waiting = root.querySelector("[data-waiting]");
  var playlist = root.dataset.playlist;
  var player = null;
  var endedOnLoad = root.dataset.state === "ended";

  function start() {
    if (player) return;
    if (waiting) waiting.hidden = true;
    // hls.js first: some browsers claim native HLS but cannot play a live
    // playlist that has just begun. Native HLS is for iPhones (no MSE).
    if (window.Hls && window.Hls.isSupported()) {
      player = new window.Hls({ liveSyncDurationCount: 2 });
      player.loadSource(playlist);
      player.attachMedia(video);
      player.on(window.Hls.Events.ERROR, function (_event, data) {
        if (!data.fatal) return;
        if (data.type === window.Hls.ErrorTypes.NETWORK_ERROR) player.startLoad();
        else if (data.type === window.Hls.ErrorTypes.MEDIA_ERROR) player.recoverMediaError();
      });
    } else if (video.canPlayType("application/vnd.apple.mpegurl")) {
      player = { native: true };
      video.src = playlist;
      // A native player may give up on a live stream that has just begun: try again.
      video.addEventListener("error", function () {
        setTimeout(function () {
          video.src = playlist;
          video.play().catch(function () {});
        }, 2000);
      });
    } else {
      if (waiting) {
        waiting.hidden = false;
        waiting.textContent = root.dataset.labelUnsupported;
      }
      return;
    }
    // Browsers allow sound only after a tap; start muted if they refuse.
    var playing = video.play();
    if (playing && playing.catch) {
      playing.catch(function () {
        video.muted = true;
        video.play().catch(function () {});
      });
    }
  }

  function show(status) {
    root.dataset.state = status.state;
    if (badge) {
      badge.textContent = root.dataset["label" + status.state.charAt(0).toUpperCase() + status.state.slice(1)] || status.state;
      badge.className = "badge " + ({ live: "live", reconnecting: "warn", ended: "muted" }[status.state] || "");
    }
    if (viewers) viewers.textContent = String(status.viewers);
    if (status.ready && (status.state === "live" || status.state === "reconnecting")) start();
    if (status.state === "ended" && !endedOnLoad) {
      // The replay takes a moment to be sealed; then the page offers it.
      setTimeout(function () { window.location.reload(); }, 5000);
    }
  }

  if (root.dataset.replay === "true") {
    start();
    return;
  }

  var delay = 1000;
  function connect() {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    var socket = new WebSocket(scheme + location.host + "/live/" + root.dataset.broadcast + "/ws");
    socket.onopen = function () { delay = 1000; };
    socket.onmessage = function (event) {
      var message = JSON.parse(event.data);
      if (message.type === "status") show(message.status);
    };
    socket.onclose = function () {
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 30000);
    };
  }
  if (root.dataset.ready === "true") start();
  connect();
})();

// The watch page: follows the broadcast's status over a WebSocket and plays
// its HLS stream with hls.js (or natively on Apple devices) once video exists.
// Live, hls.js runs in low-latency mode: it stays PART-HOLD-BACK behind the
// newest part and speeds up a little to catch up after a stall. Staff see the
// delay in a corner; anyone who falls behind gets a "jump to live" button.
(function () {
  "use strict";
  var root = document.querySelector("[data-broadcast]");
  if (!root) return;
  var video = root.querySelector("video");
  var badge = root.querySelector("[data-state-badge]");
  var viewers = root.querySelector("[data-viewers]");
  var waiting = root.querySelector("[data-waiting]");
  var delayLabel = root.querySelector("[data-delay]");
  var jumpButton = root.querySelector("[data-jump-live]");
  var playlist = root.dataset.playlist;
  var replay = root.dataset.replay === "true";
  var player = null;
  var endedOnLoad = root.dataset.state === "ended";

  // Behind the live position by more than this (seconds), the viewer is
  // offered the jump back.
  var BEHIND = 4;

  // With #debug in the address, hls.js's log is kept (the last lines) in
  // window.pavilionLog, to find out why a player stalled.
  var debugLog = null;
  if (location.hash === "#debug") {
    debugLog = window.pavilionLog = [];
    var keep = function () {
      debugLog.push((performance.now() / 1000).toFixed(3) + " " + Array.prototype.join.call(arguments, " "));
      if (debugLog.length > 400) debugLog.shift();
    };
    debugLog.logger = { trace: keep, debug: keep, log: keep, info: keep, warn: keep, error: keep };
  }

  function start() {
    if (player) return;
    if (waiting) waiting.hidden = true;
    // hls.js first: some browsers claim native HLS but cannot play a live
    // playlist that has just begun. Native HLS is for iPhones (no MSE).
    if (window.Hls && window.Hls.isSupported()) {
      player = new window.Hls({
        // Blocking playlist reloads, parts and preload hints. The distance
        // to the live edge comes from the playlist (PART-HOLD-BACK), so no
        // liveSyncDuration here: setting one would override it.
        lowLatencyMode: true,
        // Catch up after a stall by playing slightly faster (speech stays
        // intelligible; browsers keep the pitch).
        maxLiveSyncPlaybackRate: 1.5,
        backBufferLength: 30,
        debug: debugLog ? debugLog.logger : false,
      });
      player.loadSource(playlist);
      player.attachMedia(video);
      player.on(window.Hls.Events.ERROR, function (_event, data) {
        if (!data.fatal) return;
        if (data.type === window.Hls.ErrorTypes.NETWORK_ERROR) player.startLoad();
        else if (data.type === window.Hls.ErrorTypes.MEDIA_ERROR) player.recoverMediaError();
      });
      window.pavilionPlayer = player;
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
    if (!replay) setInterval(showLiveness, 1000);
  }

  // Seconds from the newest media the player knows of to what it shows.
  function behindLive() {
    if (!player) return null;
    if (player.native) {
      var seekable = video.seekable;
      if (!seekable.length) return null;
      return Math.max(0, seekable.end(seekable.length - 1) - video.currentTime);
    }
    return typeof player.latency === "number" && player.latency > 0 ? player.latency : null;
  }

  // Seconds from the moment the encoder's picture reached the server to the
  // moment it is shown here (the playlist's program date-time), or null.
  function delay() {
    if (!player || player.native || !player.playingDate) return null;
    var seconds = (Date.now() - player.playingDate.getTime()) / 1000;
    // A viewer's clock can be off by more than the delay: then the player's
    // own estimate (distance to the live edge) is the better figure.
    if (seconds < 0 || seconds > 120) return behindLive();
    return seconds;
  }

  function targetBehind() {
    if (player && !player.native && typeof player.targetLatency === "number") return player.targetLatency;
    return 3;
  }

  function showLiveness() {
    var state = root.dataset.state;
    var onAir = state === "live" || state === "reconnecting";
    if (delayLabel) {
      var seconds = onAir && !video.paused ? delay() : null;
      delayLabel.hidden = seconds === null;
      if (seconds !== null) {
        delayLabel.textContent = root.dataset.labelDelay.replace("%{n}", seconds.toFixed(1));
        delayLabel.dataset.seconds = seconds.toFixed(3);
      }
    }
    if (jumpButton) {
      var behind = behindLive();
      jumpButton.hidden = !onAir || behind === null || (behind <= targetBehind() + BEHIND && !video.paused);
    }
  }

  function jumpToLive() {
    if (!player) return;
    if (player.native) {
      var seekable = video.seekable;
      if (seekable.length) video.currentTime = Math.max(0, seekable.end(seekable.length - 1) - 3);
    } else if (typeof player.liveSyncPosition === "number" && player.liveSyncPosition > 0) {
      video.currentTime = player.liveSyncPosition;
    }
    video.play().catch(function () {});
    if (jumpButton) jumpButton.hidden = true;
  }
  if (jumpButton) jumpButton.addEventListener("click", jumpToLive);

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

  // `#t=SECONDS` (a chapter link from a record or the chapters list) starts
  // the replay there; chapter links on the page seek without reloading.
  function startAt() {
    var match = /^#t=(\d+(?:\.\d+)?)$/.exec(location.hash);
    return match ? parseFloat(match[1]) : null;
  }
  function seek(seconds) {
    if (seconds === null) return;
    var go = function () {
      video.currentTime = seconds;
      video.play().catch(function () {});
    };
    if (video.readyState >= 1) go();
    else video.addEventListener("loadedmetadata", go, { once: true });
  }
  window.pavilionSeek = seek;

  if (replay) {
    start();
    seek(startAt());
    window.addEventListener("hashchange", function () { seek(startAt()); });
    return;
  }

  var socket = window.pavilionLiveSocket(root.dataset.broadcast);
  socket.on("status", function (message) { show(message.status); });
  if (root.dataset.ready === "true") start();
})();

// "从浏览器开播": publishes this device's camera and microphone to the
// broadcast over WHIP (RFC 9725) — an SDP offer POSTed to the endpoint, the
// answer applied, DELETE of the session resource when done. On a lost
// connection (a phone moving from Wi-Fi to 4G) it posts a new offer, which
// continues the broadcast within its grace period.
(function () {
  "use strict";
  var root = document.querySelector("[data-go-live]");
  if (!root || !window.RTCPeerConnection || !navigator.mediaDevices) return;
  var preview = root.querySelector("[data-preview]");
  var stateLine = root.querySelector(".go-live-state");
  var startButton = root.querySelector("[data-start]");
  var switchButton = root.querySelector("[data-switch]");
  var muteButton = root.querySelector("[data-mute]");
  var stopForm = root.querySelector("[data-stop-form]");
  var labels = root.dataset;

  var stream = null;
  var pc = null;
  var session = null; // the Location of the current WHIP session
  var facing = "user";
  var muted = false;
  var ending = false;
  var retryTimer = null;

  function show(state, detail) {
    var key = "label" + state.replace(/(^|_)(\w)/g, function (_, __, c) { return c.toUpperCase(); });
    stateLine.dataset.state = state;
    stateLine.textContent = (labels[key] || state) + (detail ? " " + detail : "");
  }

  function constraints() {
    return {
      audio: { echoCancellation: true, noiseSuppression: true },
      video: { facingMode: facing, width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 25, max: 30 } },
    };
  }

  function preferH264(transceiver) {
    if (!transceiver.setCodecPreferences || !window.RTCRtpReceiver || !RTCRtpReceiver.getCapabilities) return;
    var caps = RTCRtpSender.getCapabilities ? RTCRtpSender.getCapabilities("video") : RTCRtpReceiver.getCapabilities("video");
    if (!caps) return;
    var h264 = caps.codecs.filter(function (c) { return /h264/i.test(c.mimeType); });
    var rest = caps.codecs.filter(function (c) { return /rtx|red|ulpfec/i.test(c.mimeType); });
    if (h264.length) transceiver.setCodecPreferences(h264.concat(rest));
  }

  function waitForCandidates(peer) {
    // No trickle: the offer carries its candidates (or gives up after 2 s).
    return new Promise(function (resolve) {
      if (peer.iceGatheringState === "complete") return resolve();
      var done = function () {
        if (peer.iceGatheringState === "complete") { peer.removeEventListener("icegatheringstatechange", done); resolve(); }
      };
      peer.addEventListener("icegatheringstatechange", done);
      setTimeout(resolve, 2000);
    });
  }

  function publish() {
    var peer = new RTCPeerConnection({ bundlePolicy: "max-bundle" });
    pc = peer;
    stream.getTracks().forEach(function (track) {
      var transceiver = peer.addTransceiver(track, { direction: "sendonly", streams: [stream] });
      if (track.kind === "video") {
        preferH264(transceiver);
        var params = transceiver.sender.getParameters();
        params.degradationPreference = "maintain-resolution";
        transceiver.sender.setParameters(params).catch(function () {});
      }
    });
    peer.addEventListener("connectionstatechange", function () {
      if (peer !== pc) return;
      if (peer.connectionState === "connected") show("on_air");
      if (peer.connectionState === "failed" || peer.connectionState === "disconnected") reconnect();
    });
    return peer.createOffer()
      .then(function (offer) { return peer.setLocalDescription(offer); })
      .then(function () { return waitForCandidates(peer); })
      .then(function () {
        return fetch(root.dataset.endpoint, {
          method: "POST",
          credentials: "same-origin",
          headers: { "Content-Type": "application/sdp", "X-CSRF-Token": root.dataset.csrf },
          body: peer.localDescription.sdp,
        });
      })
      .then(function (response) {
        if (response.status !== 201) {
          return response.json().catch(function () { return {}; }).then(function (body) {
            var error = new Error(body.message || String(response.status));
            error.status = response.status;
            throw error;
          });
        }
        session = response.headers.get("Location");
        return response.text().then(function (answer) {
          return peer.setRemoteDescription({ type: "answer", sdp: answer });
        });
      });
  }

  function closePeer() {
    if (pc) { var old = pc; pc = null; old.close(); }
  }

  function deleteSession() {
    if (!session) return Promise.resolve();
    var url = session;
    session = null;
    return fetch(url, {
      method: "DELETE",
      credentials: "same-origin",
      headers: { "X-CSRF-Token": root.dataset.csrf },
      keepalive: true,
    }).catch(function () {});
  }

  function reconnect() {
    if (ending || retryTimer) return;
    show("reconnecting");
    closePeer();
    deleteSession();
    var attempt = function () {
      retryTimer = null;
      if (ending) return;
      publish().catch(function (error) {
        if (ending) return;
        // 403: the broadcast ended meanwhile; anything else may pass.
        if (error.status === 403) { show("failed", error.message); return; }
        closePeer();
        retryTimer = setTimeout(attempt, 2000);
      });
    };
    retryTimer = setTimeout(attempt, 1000);
  }

  function start() {
    startButton.disabled = true;
    show("starting");
    navigator.mediaDevices.getUserMedia(constraints())
      .then(function (media) {
        stream = media;
        preview.srcObject = stream;
        preview.hidden = false;
        preview.play().catch(function () {});
        switchButton.hidden = false;
        muteButton.hidden = false;
        stopForm.hidden = false;
        startButton.hidden = true;
        return publish().catch(function (error) {
          closePeer();
          show("failed", error.message);
          startButton.hidden = false;
          startButton.disabled = false;
          stream.getTracks().forEach(function (t) { t.stop(); });
        });
      }, function () {
        show("failed", labels.labelNoCamera);
        startButton.disabled = false;
      });
  }

  function switchCamera() {
    if (!stream) return;
    facing = facing === "user" ? "environment" : "user";
    navigator.mediaDevices.getUserMedia({ video: constraints().video }).then(function (media) {
      var track = media.getVideoTracks()[0];
      var old = stream.getVideoTracks()[0];
      var sender = pc && pc.getSenders().filter(function (s) { return s.track && s.track.kind === "video"; })[0];
      var replaced = sender ? sender.replaceTrack(track) : Promise.resolve();
      return replaced.then(function () {
        if (old) { stream.removeTrack(old); old.stop(); }
        stream.addTrack(track);
        preview.srcObject = stream;
      });
    }).catch(function () {
      facing = facing === "user" ? "environment" : "user";
    });
  }

  function toggleMute() {
    if (!stream) return;
    muted = !muted;
    stream.getAudioTracks().forEach(function (t) { t.enabled = !muted; });
    muteButton.setAttribute("aria-pressed", muted ? "true" : "false");
    muteButton.textContent = muted ? labels.labelUnmute : labels.labelMute;
  }

  startButton.addEventListener("click", start);
  switchButton.addEventListener("click", switchCamera);
  muteButton.addEventListener("click", toggleMute);
  stopForm.addEventListener("submit", function (event) {
    event.preventDefault();
    if (!window.confirm(labels.labelConfirmStop)) return;
    ending = true;
    if (retryTimer) { clearTimeout(retryTimer); retryTimer = null; }
    deleteSession().then(function () {
      closePeer();
      if (stream) stream.getTracks().forEach(function (t) { t.stop(); });
      show("ended");
      stopForm.submit();
    });
  });
  window.addEventListener("pagehide", function () {
    if (!ending && session) deleteSession();
  });
})();

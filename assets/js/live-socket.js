// One WebSocket per page to /live/{id}/ws, shared by the watch page's player
// (status), its chat, and the staff pages (moderation queue, answering
// console). It reconnects with backoff and resumes from the last chat event
// it saw (`?after=SEQ`), so nothing is missed and nothing arrives twice:
// events at or below the last sequence number are dropped here as well as on
// the server, and a gap makes it reconnect to have the missing range resent.
(function () {
  "use strict";

  var sockets = {};

  function LiveSocket(broadcast) {
    this.broadcast = broadcast;
    this.handlers = {};
    this.lastSeq = null;
    this.socket = null;
    this.delayMs = 1000;
    this.started = false;
    this.closedByUs = false;
    this.received = {};   // frames by type, for whoever looks (tests)
  }

  LiveSocket.prototype.on = function (type, handler) {
    (this.handlers[type] = this.handlers[type] || []).push(handler);
    return this;
  };

  LiveSocket.prototype.emit = function (type, message) {
    var list = this.handlers[type] || [];
    for (var i = 0; i < list.length; i++) {
      try {
        list[i](message);
      } catch (e) {
        // One handler's mistake must not stop the others; keep it for
        // whoever looks (the browser console, tests).
        (window.pageErrors = window.pageErrors || []).push(String(e && e.stack || e));
        if (window.console) window.console.error(e);
      }
    }
  };

  LiveSocket.prototype.isOpen = function () {
    return !!this.socket && this.socket.readyState === 1;
  };

  // Sends a frame if the socket is open; false tells the caller to keep it
  // (and resend it, with the same client_id, once connected again).
  LiveSocket.prototype.send = function (frame) {
    if (!this.isOpen()) return false;
    this.socket.send(JSON.stringify(frame));
    return true;
  };

  LiveSocket.prototype.start = function () {
    if (this.started) return;
    this.started = true;
    this.connect();
  };

  LiveSocket.prototype.url = function () {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    var url = scheme + location.host + "/live/" + this.broadcast + "/ws";
    if (this.lastSeq !== null) url += "?after=" + this.lastSeq;
    return url;
  };

  LiveSocket.prototype.connect = function () {
    var self = this;
    var socket = new WebSocket(this.url());
    this.socket = socket;
    socket.onopen = function () {
      self.delayMs = 1000;
      self.emit("open", null);
    };
    socket.onmessage = function (event) {
      var message;
      try {
        message = JSON.parse(event.data);
      } catch (e) {
        return;
      }
      self.receive(message);
    };
    socket.onclose = function () {
      if (self.socket !== socket) return;
      self.socket = null;
      self.emit("close", null);
      if (self.closedByUs) return;
      // Backoff with a little jitter, so that a restarted server is not hit
      // by every viewer in the same second.
      var wait = self.delayMs * (0.75 + Math.random() * 0.5);
      self.delayMs = Math.min(self.delayMs * 2, 30000);
      setTimeout(function () { self.connect(); }, wait);
    };
  };

  // Drops the connection and connects again at once (resuming).
  LiveSocket.prototype.reconnect = function () {
    var socket = this.socket;
    this.socket = null;
    if (socket) {
      socket.onclose = null;
      try { socket.close(); } catch (e) { /* already closing */ }
    }
    this.connect();
  };

  LiveSocket.prototype.receive = function (message) {
    this.received[message.type] = (this.received[message.type] || 0) + 1;
    if (message.type === "snapshot") {
      this.lastSeq = message.seq;
    } else if (message.type === "event") {
      if (this.lastSeq !== null) {
        if (message.seq <= this.lastSeq) return;
        if (message.seq > this.lastSeq + 1) {
          // Should not happen (the server fills gaps); ask for the range.
          this.reconnect();
          return;
        }
      }
      this.lastSeq = message.seq;
    }
    this.emit(message.type, message);
  };

  // The socket of a broadcast, created on first use and connected once every
  // deferred script of the page has registered its handlers.
  window.pavilionLiveSocket = function (broadcast) {
    var key = String(broadcast);
    if (!sockets[key]) {
      var socket = new LiveSocket(key);
      sockets[key] = socket;
      if (document.readyState === "complete") {
        setTimeout(function () { socket.start(); }, 0);
      } else {
        document.addEventListener("DOMContentLoaded", function () { socket.start(); });
        window.addEventListener("load", function () { socket.start(); });
      }
    }
    return sockets[key];
  };
})();

// The console's live Q&A pages. The moderation queue and the answering board
// are rendered by the server and work with plain form posts; this script
// sends those forms without leaving the page and keeps the lists current
// from the broadcast's socket: new items are taken from a fresh copy of the
// page (rendered and escaped by the server), removed ones are marked
// "handled by X" so that a second moderator sees at once who was first.
(function () {
  "use strict";
  var root = document.querySelector("[data-console-chat]");
  if (!root) return;
  var mode = root.dataset.consoleChat;
  var socket = window.pavilionLiveSocket(root.dataset.broadcast);
  var actedOn = {};   // ids this page acted on (their removal is ours)

  function freshPage() {
    return fetch(location.pathname, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) { return response.text(); })
      .then(function (text) { return new DOMParser().parseFromString(text, "text/html"); });
  }

  function outcome(item, text, handled) {
    var note = item.querySelector("[data-outcome]");
    if (note) note.textContent = text;
    if (handled) {
      item.classList.add("handled");
      Array.prototype.forEach.call(item.querySelectorAll("button, input, select, textarea"), function (control) {
        control.disabled = true;
      });
    }
  }

  function busy(container) {
    var active = document.activeElement;
    return active && container.contains(active) && (active.tagName === "TEXTAREA" || active.tagName === "INPUT") && active.value;
  }

  // --- sending the forms -------------------------------------------------

  root.addEventListener("submit", function (event) {
    var form = event.target.closest("form[data-enhance]");
    if (!form) return;
    event.preventDefault();
    var item = form.closest("[data-item], [data-shown], [data-question]") || form;
    var id = form.querySelector("[name=comment]");
    if (id) actedOn[id.value] = true;
    var buttons = form.querySelectorAll("button");
    Array.prototype.forEach.call(buttons, function (b) { b.disabled = true; });
    // getAttribute: the forms carry an input named "action", which hides form.action.
    fetch(form.getAttribute("action"), {
      method: "POST",
      credentials: "same-origin",
      headers: { Accept: "application/json", "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams(new FormData(form)).toString(),
    }).then(function (response) {
      // The session ran out: nothing was done; log in again and come back here.
      if (response.redirected && new URL(response.url).pathname === "/login") {
        location.assign(response.url);
        return;
      }
      return response.json().then(function (body) {
        Array.prototype.forEach.call(buttons, function (b) { b.disabled = false; });
        if (mode === "answer") {
          if (!response.ok) showProblem(body.message || root.dataset.labelFailed);
          refreshBoard(true);
          return;
        }
        if (response.ok) {
          // Decisions take the item off the list; sanctions leave it to be decided.
          var gone = ["approved", "rejected", "merged", "hidden", "hid_all"].indexOf(body.done) >= 0;
          outcome(item, body.message, gone);
          if (body.done === "redacted") refreshItem(item.dataset.item);
          else if (gone) setTimeout(function () { removeItem(item); }, 1500);
          if (body.location) location.assign(body.location);
        } else {
          outcome(item, body.message || root.dataset.labelFailed, response.status === 409);
        }
      });
    }).catch(function () {
      Array.prototype.forEach.call(buttons, function (b) { b.disabled = false; });
      outcome(item, root.dataset.labelFailed, false);
    });
  });

  function showProblem(text) {
    var alert = document.getElementById("form-error");
    if (!alert) {
      alert = document.createElement("p");
      alert.id = "form-error";
      alert.className = "alert alert-error";
      alert.setAttribute("role", "alert");
      root.parentNode.insertBefore(alert, root);
    }
    alert.textContent = text;
  }

  // --- the moderation queue ---------------------------------------------

  // This page's rights ended (signed out, password changed, disabled,
  // demoted or moved): the server stopped sending the queue. Reload, so that
  // the server shows the login page or says what is no longer allowed.
  socket.on("signed_out", function () { location.reload(); });
  socket.on("queue", function (message) {
    if (message.op === "revoked") location.reload();
  });

  var queue = root.querySelector("[data-queue]");
  var emptyNote = root.querySelector("[data-queue-empty]");
  var count = root.querySelector("[data-queue-count]");

  function recount() {
    if (!queue) return;
    var open = queue.querySelectorAll("[data-item]:not(.handled)").length;
    if (count) count.textContent = String(open);
    if (emptyNote) emptyNote.hidden = queue.querySelectorAll("[data-item]").length > 0;
  }

  function removeItem(item) {
    if (item.parentNode) item.parentNode.removeChild(item);
    recount();
  }

  function refreshItem(id) {
    freshPage().then(function (page) {
      var fresh = page.querySelector('[data-queue] [data-item="' + id + '"]');
      var current = queue.querySelector('[data-item="' + id + '"]');
      if (!fresh) return;
      var node = document.importNode(fresh, true);
      if (current) {
        if (busy(current)) return;
        queue.replaceChild(node, current);
      } else {
        queue.appendChild(node);
      }
      recount();
    });
  }

  function reloadQueue() {
    freshPage().then(function (page) {
      var fresh = page.querySelector("[data-queue]");
      if (!fresh) return;
      var ids = {};
      Array.prototype.forEach.call(fresh.querySelectorAll("[data-item]"), function (node) {
        ids[node.dataset.item] = true;
        var current = queue.querySelector('[data-item="' + node.dataset.item + '"]');
        if (!current) queue.appendChild(document.importNode(node, true));
      });
      Array.prototype.forEach.call(queue.querySelectorAll("[data-item]"), function (node) {
        if (!ids[node.dataset.item] && !node.classList.contains("handled")) {
          outcome(node, root.dataset.labelHandled, true);
        }
      });
      recount();
    });
  }

  if (mode === "moderate") {
    socket.on("queue", function (message) {
      var item = message.item || {};
      var id = item.id === undefined ? null : String(item.id);
      if (message.op === "revoked") return;
      if (message.op === "reload" || id === null) {
        reloadQueue();
        return;
      }
      var current = queue.querySelector('[data-item="' + id + '"]');
      if (message.op === "add") {
        if (!current) refreshItem(id);
      } else if (message.op === "update") {
        if (current && String(item.revision) !== current.dataset.revision) refreshItem(id);
      } else if (message.op === "remove") {
        if (!current || current.classList.contains("handled")) return;
        if (actedOn[id]) return;
        var by = message.by || item.decided_by_name;
        outcome(current, by ? root.dataset.labelHandledBy.replace("%{by}", by) : root.dataset.labelHandled, true);
        recount();
      }
    });
    var wasClosed = false;
    socket.on("close", function () { wasClosed = true; });
    socket.on("open", function () {
      if (wasClosed) reloadQueue();
      wasClosed = false;
    });
  }

  // --- the answering board -----------------------------------------------

  var board = root.querySelector("[data-answer-board]");
  var refreshing = false;
  var again = false;

  function refreshBoard(force) {
    if (!board) return;
    if (refreshing) {
      again = true;
      return;
    }
    if (!force && busy(board)) {
      // The secretary is typing an answer: refresh when they leave the box.
      board.addEventListener("focusout", function () { refreshBoard(false); }, { once: true });
      return;
    }
    refreshing = true;
    freshPage().then(function (page) {
      var fresh = page.querySelector("[data-answer-board]");
      if (fresh) {
        var nodes = Array.prototype.map.call(fresh.childNodes, function (n) { return document.importNode(n, true); });
        board.replaceChildren.apply(board, nodes);
      }
    }).finally(function () {
      refreshing = false;
      if (again) {
        again = false;
        refreshBoard(false);
      }
    });
  }

  if (mode === "answer") {
    socket.on("event", function (message) {
      var kind = message.event && message.event.kind;
      if (kind === "comment" || kind === "update" || kind === "remove" || kind === "answering") refreshBoard(false);
    });
    var missed = false;
    socket.on("close", function () { missed = true; });
    socket.on("open", function () {
      if (missed) refreshBoard(false);
      missed = false;
    });
  }
})();

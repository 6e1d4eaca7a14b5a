// The watch page's comments and questions. Everything arrives over the page's
// live socket (live-socket.js): a snapshot first, then events in order.
// Text from people is only ever put into the page with textContent.
(function () {
  "use strict";
  var root = document.querySelector("[data-chat]");
  if (!root) return;
  var labels = {};
  try {
    labels = JSON.parse(document.getElementById("chat-labels").textContent);
  } catch (e) { /* the page still works, with keys for words */ }

  function t(key, args) {
    var text = labels[key] || key;
    if (args) {
      Object.keys(args).forEach(function (name) {
        text = text.split("%{" + name + "}").join(String(args[name]));
      });
    }
    return text;
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  // Anonymous authors are named in the reader's language.
  function nameOf(comment) {
    return comment.anonymous ? t("anonymous_name") : comment.name;
  }

  function localTime(iso) {
    var at = new Date(iso);
    if (isNaN(at.getTime())) return "";
    var pad = function (n) { return (n < 10 ? "0" : "") + n; };
    return pad(at.getHours()) + ":" + pad(at.getMinutes());
  }

  // Replays: the chapters seek the player; nothing is live.
  var chapterLinks = root.querySelectorAll("[data-chapter]");
  Array.prototype.forEach.call(chapterLinks, function (link) {
    link.addEventListener("click", function (event) {
      var seconds = parseFloat(link.dataset.chapter);
      if (!window.pavilionSeek || isNaN(seconds)) return;
      event.preventDefault();
      if (history.replaceState) history.replaceState(null, "", "#t=" + link.dataset.chapter);
      window.pavilionSeek(seconds);
      var video = document.querySelector(".player video");
      if (video) video.focus();
    });
  });
  if (root.dataset.live !== "true") return;

  var broadcast = root.dataset.broadcast;
  var signedIn = root.dataset.signedIn === "true";
  var commentList = root.querySelector("[data-comments]");
  var commentBox = root.querySelector("[data-comments-box]");
  var questionList = root.querySelector("[data-questions]");
  var questionCount = root.querySelector("[data-question-count]");
  var newPill = root.querySelector("[data-new-messages]");
  var banner = root.querySelector("[data-answering]");
  var bannerText = root.querySelector("[data-answering-text]");
  var bannerName = root.querySelector("[data-answering-name]");
  var connection = root.querySelector("[data-connection]");
  var form = root.querySelector("[data-compose]");
  var textInput = form && form.querySelector("textarea");
  var sendButton = form && form.querySelector("button[type=submit]");
  var anonymousBox = form && form.querySelector("[name=anonymous]");
  var composeNote = root.querySelector("[data-compose-note]");
  var emptyComments = root.querySelector("[data-empty-comments]");
  var emptyQuestions = root.querySelector("[data-empty-questions]");

  var comments = {};      // id → { data, node } in the comments pane
  var questions = {};     // id → public question
  var mine = {};          // id → own comment (any state)
  var voted = {};         // id → true
  var answering = null;
  var settings = { open: true, slow_mode_seconds: 0 };
  var me = null;
  var order = "votes";
  var unread = 0;
  var pending = null;     // { client_id, kind, text, anonymous } awaiting its ack
  var waitUntil = 0;      // slow mode / time-out: no posting before this (ms)
  var blockedReason = null;
  var snapshots = 0;      // snapshots applied (tests wait for the first)
  var socket = window.pavilionLiveSocket(broadcast);

  // --- the comments pane -------------------------------------------------

  function nearBottom() {
    return commentBox.scrollHeight - commentBox.scrollTop - commentBox.clientHeight < 48;
  }

  function scrollToEnd() {
    commentBox.scrollTop = commentBox.scrollHeight;
    unread = 0;
    newPill.hidden = true;
  }

  commentBox.addEventListener("scroll", function () {
    if (nearBottom()) {
      unread = 0;
      newPill.hidden = true;
    }
  });
  newPill.addEventListener("click", scrollToEnd);

  function statusNote(data) {
    var own = mine[data.id];
    if (!own) return null;
    if (own.state === "held") return el("span", "badge warn", t("held"));
    if (own.state === "rejected") return el("span", "badge danger", t("rejected"));
    if (own.state === "hidden") return el("span", "badge muted", t("hidden"));
    return null;
  }

  function fillComment(node, data) {
    node.textContent = "";
    node.dataset.id = data.id;
    var own = mine[data.id];
    node.className = "comment" + (own ? " mine" : "") + (own && own.state !== "approved" ? " " + own.state : "");
    var head = el("p", "comment-head");
    head.appendChild(el("span", "comment-name", nameOf(data)));
    if (data.kind === "question") head.appendChild(el("span", "badge", t("question")));
    var note = statusNote(data);
    if (note) head.appendChild(note);
    if (data.at) {
      var time = el("time", "muted", localTime(data.at));
      time.setAttribute("datetime", data.at);
      head.appendChild(time);
    }
    node.appendChild(head);
    node.appendChild(el("p", "comment-body", data.body));
    if (own && own.state === "rejected" && own.reason) {
      node.appendChild(el("p", "comment-reason", t("reject_reason", { reason: own.reason })));
    }
  }

  function showComment(data, atEnd) {
    var follow = nearBottom();
    var entry = comments[data.id];
    if (entry) {
      entry.data = data;
      fillComment(entry.node, data);
      if (atEnd) commentList.appendChild(entry.node);
    } else {
      var node = el("li");
      fillComment(node, data);
      comments[data.id] = { data: data, node: node };
      commentList.appendChild(node);
    }
    emptyComments.hidden = true;
    if (follow) scrollToEnd();
    else if (atEnd) {
      unread += 1;
      newPill.textContent = t("new_messages", { n: unread });
      newPill.hidden = false;
    }
  }

  function removeComment(id) {
    var entry = comments[id];
    if (entry && !(mine[id] && mine[id].state !== "approved" && mine[id].state !== "hidden")) {
      entry.node.remove();
      delete comments[id];
    }
    emptyComments.hidden = Object.keys(comments).length > 0;
  }

  // --- the questions tab -------------------------------------------------

  function sortedQuestions() {
    var list = Object.keys(questions).map(function (id) { return questions[id]; });
    list.sort(function (a, b) {
      var done = (a.status === "answered") - (b.status === "answered");
      if (done !== 0) return done;
      if (order === "votes" && b.votes !== a.votes) return b.votes - a.votes;
      if (order === "time") return a.at < b.at ? 1 : a.at > b.at ? -1 : 0;
      return a.at < b.at ? -1 : a.at > b.at ? 1 : 0;
    });
    return list;
  }

  function questionNode(q) {
    var node = el("li", "question" + (q.id === answering ? " answering" : "") + (q.status === "answered" ? " answered" : ""));
    node.dataset.id = q.id;
    var text = el("div", "question-text");
    var head = el("p", "comment-head");
    head.appendChild(el("span", "comment-name", nameOf(q)));
    if (q.id === answering) head.appendChild(el("span", "badge live", t("answering")));
    else if (q.status === "answered") head.appendChild(el("span", "badge ok", t("answered")));
    text.appendChild(head);
    text.appendChild(el("p", "comment-body", q.body));
    if (q.answer) text.appendChild(el("p", "question-answer", t("written_answer", { answer: q.answer })));
    node.appendChild(text);
    var votes = el("div", "question-votes");
    votes.appendChild(el("span", "vote-count", t("votes", { n: q.votes })));
    if (mine[q.id]) {
      votes.appendChild(el("span", "badge", t("own_question")));
    } else if (signedIn) {
      var button = el("button", "secondary vote", voted[q.id] ? t("voted") : t("vote"));
      button.type = "button";
      button.setAttribute("aria-pressed", voted[q.id] ? "true" : "false");
      button.dataset.vote = q.id;
      button.setAttribute("aria-label", (voted[q.id] ? t("voted") : t("vote")) + " · " + q.body.slice(0, 40));
      votes.appendChild(button);
    }
    node.appendChild(votes);
    return node;
  }

  function renderQuestions() {
    var list = sortedQuestions();
    var nodes = list.map(questionNode);
    questionList.replaceChildren.apply(questionList, nodes);
    emptyQuestions.hidden = list.length > 0;
    var open = list.filter(function (q) { return q.status !== "answered"; }).length;
    questionCount.textContent = open ? "(" + open + ")" : "";
    renderBanner();
  }

  function renderBanner() {
    var q = answering !== null ? questions[answering] : null;
    banner.hidden = !q;
    if (q) {
      bannerName.textContent = nameOf(q);
      bannerText.textContent = q.body;
    }
  }

  questionList.addEventListener("click", function (event) {
    var button = event.target.closest("[data-vote]");
    if (!button) return;
    var id = Number(button.dataset.vote);
    var up = !voted[id];
    button.disabled = true;
    if (!socket.send({ type: "vote", id: id, up: up })) {
      voteOverHttp(id, up).then(function () { button.disabled = false; });
    }
  });

  function voteOverHttp(id, up) {
    return fetch("/live/" + broadcast + "/comments/" + id + "/vote", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": root.dataset.csrf },
      body: JSON.stringify({ up: up }),
    }).then(function (response) {
      return response.json().then(function (body) {
        if (response.ok) applyVote(body.vote);
        else showNote(body.message || t("send_failed"), true);
      });
    }).catch(function () { showNote(t("send_failed"), true); });
  }

  function applyVote(vote) {
    if (!vote) return;
    if (vote.up) voted[vote.id] = true;
    else delete voted[vote.id];
    if (questions[vote.id]) questions[vote.id].votes = vote.votes;
    renderQuestions();
  }

  Array.prototype.forEach.call(root.querySelectorAll("[data-sort]"), function (button) {
    button.addEventListener("click", function () {
      order = button.dataset.sort;
      Array.prototype.forEach.call(root.querySelectorAll("[data-sort]"), function (b) {
        b.setAttribute("aria-pressed", b === button ? "true" : "false");
      });
      renderQuestions();
    });
  });

  // --- tabs --------------------------------------------------------------

  var tabs = root.querySelectorAll("[role=tab]");
  function selectTab(tab) {
    Array.prototype.forEach.call(tabs, function (other) {
      var selected = other === tab;
      other.setAttribute("aria-selected", selected ? "true" : "false");
      other.tabIndex = selected ? 0 : -1;
      document.getElementById(other.getAttribute("aria-controls")).hidden = !selected;
    });
    if (tab.getAttribute("aria-controls") === "chat-comments") scrollToEnd();
  }
  Array.prototype.forEach.call(tabs, function (tab, index) {
    tab.addEventListener("click", function () { selectTab(tab); });
    tab.addEventListener("keydown", function (event) {
      var step = event.key === "ArrowRight" ? 1 : event.key === "ArrowLeft" ? -1 : 0;
      if (!step) return;
      var next = tabs[(index + step + tabs.length) % tabs.length];
      next.focus();
      selectTab(next);
    });
  });

  // --- posting -----------------------------------------------------------

  function clientId() {
    if (window.crypto && window.crypto.randomUUID) return window.crypto.randomUUID();
    return Date.now().toString(36) + Math.random().toString(36).slice(2);
  }

  function showNote(text, isError) {
    if (!composeNote) return;
    composeNote.textContent = text || "";
    composeNote.className = isError ? "compose-note error" : "compose-note";
  }

  function refreshCompose() {
    if (!form) return;
    var now = Date.now();
    var closed = settings.open === false;
    var waiting = waitUntil > now;
    sendButton.disabled = closed || waiting || !!pending || !!blockedReason;
    textInput.disabled = closed || !!blockedReason;
    if (closed) showNote(t("closed"), false);
    else if (blockedReason) showNote(blockedReason, true);
    else if (waiting) showNote(t("slow_mode_wait", { n: Math.ceil((waitUntil - now) / 1000) }), false);
    else if (pending) showNote(t("sending"), false);
    else if (composeNote && composeNote.dataset.sticky !== "true") showNote("", false);
  }
  setInterval(function () {
    if (waitUntil && waitUntil <= Date.now()) {
      waitUntil = 0;
      if (blockedReason && me && me.until) {
        blockedReason = null;
      }
    }
    refreshCompose();
  }, 1000);

  function kind() {
    var checked = form.querySelector("[name=kind]:checked");
    return checked ? checked.value : "chat";
  }

  if (form) {
    var syncAnonymous = function () {
      var question = kind() === "question";
      anonymousBox.disabled = !question;
      if (!question) anonymousBox.checked = false;
    };
    Array.prototype.forEach.call(form.querySelectorAll("[name=kind]"), function (radio) {
      radio.addEventListener("change", syncAnonymous);
    });
    syncAnonymous();
    textInput.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        form.requestSubmit ? form.requestSubmit() : form.dispatchEvent(new Event("submit"));
      }
    });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (pending || sendButton.disabled) return;
      var text = textInput.value;
      if (!text.trim()) {
        showNote(t("empty"), true);
        return;
      }
      composeNote.dataset.sticky = "false";
      pending = {
        type: "post",
        client_id: clientId(),
        kind: kind(),
        text: text,
        anonymous: kind() === "question" && anonymousBox.checked,
      };
      refreshCompose();
      sendPending();
    });
  }

  function sendPending() {
    if (!pending) return;
    if (socket.send(pending)) return;
    // No socket: the same post over HTTP (the same client_id makes a resend harmless).
    var post = pending;
    fetch("/live/" + broadcast + "/comments", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": root.dataset.csrf },
      body: JSON.stringify(post),
    }).then(function (response) {
      // A refusal that is not ours (a proxy's page, say) is still a refusal.
      return response.json().catch(function () { return {}; }).then(function (body) {
        if (pending !== post) return;
        if (response.ok && body.type === "ack") acknowledged(body);
        else refused(body);
      });
    }).catch(function () {
      // Still offline: the socket's reconnection will send it.
      refreshCompose();
    });
  }

  function acknowledged(message) {
    if (message.vote) {
      applyVote(message.vote);
      return;
    }
    if (!pending || message.client_id !== pending.client_id) return;
    pending = null;
    textInput.value = "";
    var comment = message.comment;
    mine[comment.id] = { id: comment.id, state: message.state === "held" ? "held" : "approved" };
    if (message.state === "held") {
      showComment(comment, true);
      composeNote.dataset.sticky = "true";
      showNote(comment.kind === "question" ? t("question_held") : t("chat_held"), false);
    } else {
      showComment(comment, true);
    }
    if (comment.kind === "question" && message.state !== "held") {
      questions[comment.id] = comment;
      renderQuestions();
    }
    scrollToEnd();
    if (settings.slow_mode_seconds > 0) waitUntil = Date.now() + settings.slow_mode_seconds * 1000;
    refreshCompose();
  }

  function refused(message) {
    if (message.client_id && pending && message.client_id !== pending.client_id) return;
    pending = null;
    if (message.retry_after) waitUntil = Date.now() + message.retry_after * 1000;
    composeNote.dataset.sticky = "true";
    refreshCompose();
    if (!(message.retry_after && message.error && message.error.indexOf("slow") >= 0)) {
      showNote(message.message || t("send_failed"), true);
    }
  }

  // --- what the server says ---------------------------------------------

  function applyMe(next) {
    me = next;
    voted = {};
    mine = {};
    (me && me.voted || []).forEach(function (id) { voted[id] = true; });
    (me && me.mine || []).forEach(function (own) { mine[own.id] = own; });
    blockedReason = me && !me.can_post ? (me.why_not_message || t("cannot_post")) : null;
    if (me && me.until) {
      var until = Date.parse(me.until);
      if (!isNaN(until) && until > Date.now()) waitUntil = until;
    }
    refreshCompose();
  }

  socket.on("snapshot", function (message) {
    snapshots += 1;
    comments = {};
    commentList.replaceChildren();
    questions = {};
    settings = message.settings || settings;
    if (message.me) applyMe(message.me);
    (message.comments || []).forEach(function (c) { showComment(c, false); });
    (message.questions || []).forEach(function (q) { questions[q.id] = q; });
    // The viewer's own messages that others do not see (held, rejected).
    Object.keys(mine).forEach(function (id) {
      var own = mine[id];
      if ((own.state === "held" || own.state === "rejected") && !comments[id]) showComment(own.comment, false);
    });
    answering = message.answering === undefined ? null : message.answering;
    emptyComments.hidden = Object.keys(comments).length > 0;
    renderQuestions();
    scrollToEnd();
    if (pending) sendPending();
  });

  // The viewer's own messages and rights, sent again whenever one of them
  // changes (held, approved, rejected with the reason, timed out, banned).
  socket.on("me", function (message) {
    applyMe(message.me);
    Object.keys(mine).forEach(function (id) {
      var own = mine[id];
      if (own.state === "held" || own.state === "rejected") showComment(own.comment, !comments[id]);
      else if (own.state === "hidden") removeComment(own.id);
      else if (comments[id]) showComment(comments[id].data, false);
    });
    renderQuestions();
    if (message.notice) {
      composeNote.dataset.sticky = "true";
      showNote(message.notice.message, message.notice.bad);
    }
    refreshCompose();
  });

  socket.on("event", function (message) {
    var event = message.event || {};
    switch (event.kind) {
      case "comment":
        if (mine[event.comment.id]) mine[event.comment.id].state = "approved";
        showComment(event.comment, true);
        if (event.comment.kind === "question") {
          questions[event.comment.id] = event.comment;
          renderQuestions();
        }
        break;
      case "update":
        if (comments[event.comment.id]) showComment(event.comment, false);
        if (event.comment.kind === "question") {
          questions[event.comment.id] = event.comment;
          renderQuestions();
        }
        break;
      case "remove":
        removeComment(event.id);
        if (questions[event.id]) {
          delete questions[event.id];
          renderQuestions();
        }
        break;
      case "answering":
        answering = event.id === undefined ? null : event.id;
        renderQuestions();
        break;
      case "settings":
        settings = event.settings || settings;
        refreshCompose();
        break;
    }
  });

  // The session ended elsewhere (signed out in another tab, password
  // changed, account disabled or changed by an admin): the server now treats
  // this page as a guest's. Say so, and stop offering to post or vote.
  socket.on("signed_out", function (message) {
    signedIn = false;
    pending = null;
    applyMe(null);
    blockedReason = message.message || t("cannot_post");
    if (composeNote) composeNote.dataset.sticky = "true";
    renderQuestions();
    refreshCompose();
  });

  socket.on("ack", acknowledged);
  socket.on("error", function (message) {
    if (message.vote !== undefined || message.id !== undefined) {
      showNote(message.message || t("send_failed"), true);
      Array.prototype.forEach.call(questionList.querySelectorAll("[data-vote]"), function (b) { b.disabled = false; });
      return;
    }
    if (pending) refused(message);
    else showNote(message.message || t("send_failed"), true);
  });

  socket.on("open", function () {
    connection.hidden = true;
    // A post sent just before the connection broke: again, with the same
    // client_id, so that it is stored once whatever happened to the first.
    if (pending) sendPending();
  });
  socket.on("close", function () {
    connection.hidden = false;
  });

  window.pavilionChat = {
    state: function () {
      return {
        snapshots: snapshots,
        comments: Object.keys(comments).length,
        questions: Object.keys(questions).length,
        answering: answering,
      };
    },
  };
})();

// Starts the rasa-webchat widget with the settings the console rendered into #webchat-config.
(function () {
  "use strict";
  var SESSION_KEY = "chat_session";  // where rasa-webchat keeps its state with storage "local"
  var config = JSON.parse(document.getElementById("webchat-config").textContent);
  if (!window.WebChat || !window.WebChat.default) {
    console.error("journeybot: chat widget bundle did not load");
    return;
  }
  var host = document.getElementById("webchat");
  // Read before the widget starts: it rewrites the stored state as soon as it runs.
  var restoreOpen = storedOpenState();
  host.setAttribute("data-chat-state", "starting");
  window.WebChat.default({
    socketUrl: config.socketUrl,
    // Set when the shop's server signed in a customer: their email/phone and its user_hash.
    customData: config.customData || {},
    socketPath: config.socketPath,
    title: config.title,
    subtitle: config.subtitle,
    inputTextFieldHint: config.inputTextFieldHint,
    // Keep the conversation and the session id across reloads (Rasa's session_persistence).
    params: { storage: "local" },
    hideWhenNotConnected: false,
    // Botfront's "rules" wait for props in session_confirm, which Rasa never sends, and hide the
    // whole widget until the socket connects: the visitor would see nothing while Rasa is slow.
    withRules: false,
    customMessageDelay: function () { return 300; }
  }, host);

  function storedOpenState() {
    try {
      var session = JSON.parse(window.localStorage.getItem(SESSION_KEY) || "null");
      return !!(session && session.params && session.params.isChatOpen);
    } catch (e) {
      return false;
    }
  }

  function isOpen() { return !!host.querySelector(".rw-conversation-container"); }

  // The widget's controls have no accessible names, and its one launcher button both opens and
  // closes the chat: name it after what a press does now, and say whether the chat is expanded.
  function sync() {
    var named = [
      [".rw-close-button", "Close chat"],
      [".rw-new-message", "Your message"],
      [".rw-send", "Send message"]
    ];
    named.forEach(function (pair) {
      host.querySelectorAll(pair[0]).forEach(function (el) {
        if (!el.getAttribute("aria-label")) { el.setAttribute("aria-label", pair[1]); }
      });
    });
    var open = isOpen();
    var launcher = host.querySelector(".rw-launcher");
    if (launcher) {
      var name = open ? "Close chat" : "Open chat";
      if (launcher.getAttribute("aria-label") !== name) { launcher.setAttribute("aria-label", name); }
      if (launcher.getAttribute("aria-expanded") !== String(open)) { launcher.setAttribute("aria-expanded", String(open)); }
    }
    // "starting" until the widget shows the open/closed state it restored from storage, so that
    // scripts and tests act on the restored widget rather than on its first, closed, render.
    var state = host.getAttribute("data-chat-state");
    if (state === "starting" && (!launcher || open !== restoreOpen)) { return; }
    var now = open ? "open" : "closed";
    if (state !== now) { host.setAttribute("data-chat-state", now); }
  }
  new MutationObserver(sync).observe(host, { childList: true, subtree: true });
  sync();

  function launcher() { return host.querySelector(".rw-launcher"); }

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape" || !isOpen() || !launcher()) { return; }
    event.preventDefault();
    launcher().click();
    // Back to the control that reopens it, as for any dialog closed with Escape.
    setTimeout(function () { if (launcher()) { launcher().focus(); } }, 0);
  });

  var opener = document.getElementById("open-chat");
  if (opener) {
    opener.addEventListener("click", function () {
      if (launcher() && !isOpen()) { launcher().click(); }
      setTimeout(function () {
        var input = host.querySelector(".rw-new-message");
        if (input) { input.focus(); }
      }, 100);
    });
  }
})();

// Starts the rasa-webchat widget with the settings the console rendered into #webchat-config.
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("webchat-config").textContent);
  if (!window.WebChat || !window.WebChat.default) {
    console.error("journeybot: chat widget bundle did not load");
    return;
  }
  var host = document.getElementById("webchat");
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
    customMessageDelay: function () { return 300; }
  }, host);

  // The widget's controls have no accessible names; give them some once they are rendered.
  function label(root) {
    var named = [
      [".rw-launcher", "Open chat"],
      [".rw-close-button", "Close chat"],
      [".rw-new-message", "Your message"],
      [".rw-send", "Send message"]
    ];
    named.forEach(function (pair) {
      root.querySelectorAll(pair[0]).forEach(function (el) {
        if (!el.getAttribute("aria-label")) { el.setAttribute("aria-label", pair[1]); }
      });
    });
  }
  new MutationObserver(function () { label(host); }).observe(host, { childList: true, subtree: true });
  label(host);

  var opener = document.getElementById("open-chat");
  if (opener) {
    opener.addEventListener("click", function () {
      var launcher = host.querySelector(".rw-launcher");
      if (launcher && !host.querySelector(".rw-conversation-container")) { launcher.click(); }
      setTimeout(function () {
        var input = host.querySelector(".rw-new-message");
        if (input) { input.focus(); }
      }, 100);
    });
  }
})();

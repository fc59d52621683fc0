// Live transcript: poll the JSON endpoint every 2 s and redraw. textContent only, so
// customer text is never interpreted as HTML; bidi controls are dropped (the server drops
// them too) and each message is a <bdi>, so right-to-left text cannot reorder the rest.
(function () {
  "use strict";
  var BIDI_CONTROLS = /[\u202A-\u202E\u2066-\u2069\u200E\u200F\u061C]/g;
  function plain(value) { return String(value).replace(BIDI_CONTROLS, ""); }
  var list = document.getElementById("transcript");
  if (!list) { return; }
  var url = list.getAttribute("data-url");
  var last = "";
  function draw(messages) {
    var key = JSON.stringify(messages);
    if (key === last) { return; }
    last = key;
    while (list.firstChild) { list.removeChild(list.firstChild); }
    messages.forEach(function (m) {
      var li = document.createElement("li");
      li.className = "msg " + m.from;
      var meta = document.createElement("span");
      meta.className = "meta";
      meta.textContent = plain(m.from + (m.agent ? " (" + m.agent + ")" : ""));
      var text = document.createElement("bdi");
      text.className = "text";
      text.textContent = plain(m.text);
      li.appendChild(meta);
      li.appendChild(document.createTextNode(" "));
      li.appendChild(text);
      list.appendChild(li);
    });
    list.scrollTop = list.scrollHeight;
  }
  function poll() {
    fetch(url, { headers: { "Accept": "application/json" }, credentials: "same-origin" })
      .then(function (r) {
        if (r.status === 401) { window.location.reload(); return null; }
        return r.ok ? r.json() : null;
      })
      .then(function (data) { if (data) { draw(data.messages); } })
      .catch(function () { /* try again at the next tick */ })
      .finally(function () { window.setTimeout(poll, 2000); });
  }
  window.setTimeout(poll, 2000);
})();

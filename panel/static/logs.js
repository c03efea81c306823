// logs.js follows an environment's output live through the panel's server-sent events.
(function () {
  "use strict";
  var pre = document.getElementById("logs");
  var state = document.getElementById("logs-state");
  if (!pre || !window.EventSource) {
    return;
  }
  var max = 2000;
  var src = new EventSource(pre.dataset.events);
  // The stream sends the output so far, then new lines, on each (re)connection.
  src.addEventListener("open", function () {
    pre.textContent = "";
    pre.dataset.live = "true";
    state.textContent = "Following live.";
  });
  src.addEventListener("line", function (e) {
    var l = JSON.parse(e.data);
    var span = document.createElement("span");
    span.className = l.stream + " live";
    span.textContent = l.instance + " " + l.stream + ": " + l.line;
    var atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    pre.appendChild(span);
    pre.appendChild(document.createTextNode("\n"));
    while (pre.childNodes.length > 2 * max) {
      pre.removeChild(pre.firstChild);
    }
    if (atEnd) {
      pre.scrollTop = pre.scrollHeight;
    }
  });
  src.addEventListener("error", function () {
    state.textContent = "Reconnecting…";
  });
})();

// deploy.js follows a deploy's progress on the deploy page through the panel's
// server-sent events, until its final result.
(function () {
  "use strict";
  var box = document.getElementById("deploy");
  if (!box || box.dataset.done === "true" || !window.EventSource) {
    return;
  }
  var list = document.getElementById("events");
  var status = document.getElementById("deploy-status");
  var phase = document.getElementById("deploy-phase");
  var release = document.getElementById("deploy-release");
  var failure = document.getElementById("deploy-error");
  var src = new EventSource(box.dataset.events);

  function setStatus(s) {
    status.textContent = s;
    status.className = "status-" + s;
    box.dataset.status = s;
  }
  function reached(name) {
    var li = document.querySelector('#phases li[data-phase="' + name + '"]');
    if (li) {
      li.className = "reached";
    }
  }
  function when(iso) {
    var t = document.createElement("time");
    t.dateTime = iso;
    t.textContent = iso.replace("T", " ").replace(/\.\d+/, "").replace("Z", " UTC");
    return t;
  }
  // The stream sends every event from the first on each (re)connection.
  src.addEventListener("open", function () {
    list.textContent = "";
  });
  src.addEventListener("progress", function (e) {
    var ev = JSON.parse(e.data);
    var li = document.createElement("li");
    var ph = document.createElement("span");
    ph.className = "phase";
    ph.textContent = ev.phase;
    li.appendChild(when(ev.at));
    li.appendChild(document.createTextNode(" "));
    li.appendChild(ph);
    li.appendChild(document.createTextNode(" " + ev.message));
    list.appendChild(li);
    phase.textContent = ev.phase;
    reached(ev.phase);
    if (box.dataset.status === "queued") {
      setStatus("running");
    }
  });
  src.addEventListener("done", function (e) {
    src.close();
    var d = JSON.parse(e.data);
    phase.textContent = d.phase;
    release.textContent = d.release || "–";
    if (d.error) {
      failure.textContent = d.error;
      failure.hidden = false;
    }
    setStatus(d.status);
    box.dataset.done = "true";
  });
  src.addEventListener("failure", function (e) {
    src.close();
    failure.textContent = JSON.parse(e.data);
    failure.hidden = false;
  });
})();

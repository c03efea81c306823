// build.js follows a build's log and state through the panel's server-sent events,
// on the build page and on the page of a deploy from source.
(function () {
  "use strict";
  var box = document.getElementById("build");
  if (!box || box.dataset.done === "true" || !window.EventSource) {
    return;
  }
  var log = document.getElementById("build-log");
  var status = document.getElementById("build-status");
  var image = document.getElementById("build-image");
  var failure = document.getElementById("build-error");
  var src = new EventSource(box.dataset.events);
  // The stream sends the whole log from its first line on each (re)connection.
  src.addEventListener("open", function () {
    log.textContent = "";
  });
  src.addEventListener("log", function (e) {
    JSON.parse(e.data).forEach(function (line) {
      log.appendChild(document.createTextNode(line + "\n"));
    });
    log.scrollTop = log.scrollHeight;
    if (box.dataset.status === "queued") {
      status.textContent = "running";
      box.dataset.status = "running";
    }
  });
  src.addEventListener("done", function (e) {
    src.close();
    var b = JSON.parse(e.data);
    status.textContent = b.status;
    status.className = "status-" + b.status;
    if (b.image) {
      image.textContent = b.image;
    }
    if (b.error) {
      failure.textContent = b.error;
      failure.hidden = false;
    }
    box.dataset.status = b.status;
    box.dataset.done = "true";
    // What the page offered while the build ran no longer applies.
    var cancel = document.getElementById("cancel-build");
    if (cancel) {
      cancel.hidden = true;
    }
    var deploy = document.getElementById("deploy-build");
    if (deploy && b.status !== "succeeded") {
      deploy.hidden = true;
    }
  });
  src.addEventListener("failure", function (e) {
    src.close();
    failure.textContent = JSON.parse(e.data);
    failure.hidden = false;
  });
})();

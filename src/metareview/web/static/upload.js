// Uploads with progress: a form marked data-progress is sent by XMLHttpRequest, its
// <progress> element showing the bytes sent, then "storing" while the server reads the file.
// The server answers such a request's redirect with {"location": ...} (so the messages it
// flashed are still there for the next page), and the page goes there. Without this script
// the form posts as usual.
(function () {
  "use strict";
  function megabytes(n) { return (n / 1048576).toFixed(1) + " MB"; }
  document.querySelectorAll("form[data-progress]").forEach(function (form) {
    var bar = form.querySelector("progress");
    var status = form.querySelector(".upload-status");
    form.addEventListener("submit", function (event) {
      if (!window.FormData || !bar) return;
      event.preventDefault();
      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      xhr.setRequestHeader("X-Upload", "1");
      bar.hidden = false;
      form.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
      xhr.upload.onprogress = function (e) {
        if (!e.lengthComputable) return;
        bar.max = e.total;
        bar.value = e.loaded;
        status.textContent = "Sending " + megabytes(e.loaded) + " of " + megabytes(e.total);
      };
      xhr.upload.onload = function () {
        bar.removeAttribute("value");  // indeterminate while the server works
        status.textContent = "Sent; reading and storing it…";
      };
      xhr.onload = function () {
        var answer = null;
        try { answer = JSON.parse(xhr.responseText); } catch (e) { answer = null; }
        if (xhr.status === 200 && answer && answer.location) {
          window.location.assign(answer.location);
          return;
        }
        form.querySelectorAll("button").forEach(function (b) { b.disabled = false; });
        bar.hidden = true;
        status.textContent = xhr.status === 413
          ? "The file is larger than this site accepts."
          : "The upload failed (" + xhr.status + "); reload the page and try again.";
      };
      xhr.onerror = function () {
        form.querySelectorAll("button").forEach(function (b) { b.disabled = false; });
        bar.hidden = true;
        status.textContent = "The connection failed; try again.";
      };
      xhr.send(new FormData(form));
    });
  });
})();

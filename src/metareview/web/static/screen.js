// Keys on the screening page: i / e / m vote, u undoes, n goes to the note. Keys typed into
// a field are left alone. Only this file runs (the page's Content-Security-Policy).
(function () {
  "use strict";
  document.addEventListener("keydown", function (event) {
    var target = event.target;
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA")) {
      if (event.key === "Escape") target.blur();
      return;
    }
    if (event.key === "n") {
      var note = document.getElementById("note");
      if (note) { event.preventDefault(); note.focus(); }
      return;
    }
    var button = document.querySelector('button[data-key="' + event.key + '"]');
    if (button) { event.preventDefault(); button.click(); }
  });
})();

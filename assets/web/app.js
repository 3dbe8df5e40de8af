// Progressive enhancement only: every page works without this file.
// Copy buttons: <button data-copy="ID" hidden> copies the text of element ID.
(function () {
  "use strict";
  function selectText(el) {
    var range = document.createRange();
    range.selectNodeContents(el);
    var sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
  }
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    var target = document.getElementById(button.getAttribute("data-copy"));
    var status = button.parentNode.querySelector(".copy-status");
    if (!target) { return; }
    button.hidden = false;
    button.addEventListener("click", function () {
      var text = target.textContent;
      var say = function (msg) { if (status) { status.textContent = msg; } };
      if (navigator.clipboard && navigator.clipboard.writeText) {
        navigator.clipboard.writeText(text).then(
          function () { say("Copied."); },
          function () { selectText(target); say("Selected: press Ctrl+C to copy."); }
        );
      } else {
        selectText(target);
        say("Selected: press Ctrl+C to copy.");
      }
    });
  });
})();

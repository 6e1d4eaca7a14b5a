// "打印议程": buttons marked data-print print the page. Wired here rather
// than with onclick=, which the Content-Security-Policy refuses; without
// scripts the button stays hidden (the browser's own print still works).
(function () {
  "use strict";
  document.querySelectorAll("button[data-print]").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () {
      window.print();
    });
  });
})();

// The open-dispute form: the amount field matters only for a partial refund, so it is shown only
// while that outcome is chosen. Without JavaScript it is always shown (and ignored by the server
// for other outcomes).
(function () {
  "use strict";
  var box = document.querySelector("[data-partial-amount]");
  var radios = document.querySelectorAll('input[name="outcome_wanted"]');
  if (!box || !radios.length) return;
  function sync() {
    var checked = document.querySelector('input[name="outcome_wanted"]:checked');
    var partial = checked && checked.value === "partial_refund";
    // Keep it visible when the server flagged it, whatever is chosen.
    box.hidden = !partial && !box.querySelector(".error");
  }
  radios.forEach(function (r) { r.addEventListener("change", sync); });
  sync();
})();

// The gig page's milestone timeline: switch packages without reloading. The links work without
// JavaScript (?package=<tier>#plan-title); the tabs and the packages' "See its milestones" links
// both switch, and only the tabs carry aria-current.
(function () {
  "use strict";
  var tabs = document.querySelectorAll(".plan-tabs [data-plan-tab]");
  document.querySelectorAll("[data-plan-tab]").forEach(function (link) {
    link.addEventListener("click", function (event) {
      event.preventDefault();
      var tier = link.dataset.planTab;
      tabs.forEach(function (t) {
        if (t.dataset.planTab === tier) t.setAttribute("aria-current", "true");
        else t.removeAttribute("aria-current");
      });
      document.querySelectorAll("[data-plan-panel]").forEach(function (p) {
        p.hidden = p.dataset.planPanel !== tier;
      });
      history.replaceState(null, "", "?package=" + tier);
      if (!link.closest(".plan-tabs")) {
        var title = document.getElementById("plan-title");
        if (title) title.scrollIntoView({ block: "start" });
      }
    });
  });
})();

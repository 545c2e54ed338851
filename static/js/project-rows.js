/* Milestone rows of the project and offer forms (the buyer's sketch, the seller's plan): add and
 * remove rows in the page instead of posting it. Every button is also a plain submit button the
 * server handles (milestones/project_views.py), so the forms work with JavaScript off. */
(function () {
  "use strict";
  document.querySelectorAll("[data-rows]").forEach(function (root) {
    var prefix = root.dataset.prefix;
    var max = parseInt(root.dataset.max, 10) || 5;
    var list = root.querySelector("[data-list]");
    var template = root.querySelector("[data-row-template]");
    var total = root.querySelector("#id_" + prefix + "-TOTAL_FORMS");
    var pattern = new RegExp(prefix + "-(\\d+|__prefix__)-");

    function rows() { return Array.prototype.slice.call(list.querySelectorAll("[data-row]")); }

    function renumber() {
      var items = rows();
      items.forEach(function (item, i) {
        item.querySelectorAll("[name], [id], label[for]").forEach(function (el) {
          ["name", "id", "for"].forEach(function (attr) {
            var v = el.getAttribute(attr);
            if (v) el.setAttribute(attr, v.replace(pattern, prefix + "-" + i + "-"));
          });
        });
        item.querySelector("[data-number]").textContent = "Milestone " + (i + 1);
        var remove = item.querySelector("[data-action=remove]");
        remove.value = i;
        remove.setAttribute("aria-label", "Remove milestone " + (i + 1));
      });
      total.value = items.length;
      var full = items.length >= max;
      root.querySelector("[data-action=add]").disabled = full;
      root.querySelector("[data-limit-note]").textContent = full ? "You have reached the limit of " + max + " milestones." : "";
      root.querySelector("[data-empty]").hidden = items.length > 0;
    }

    root.addEventListener("click", function (event) {
      var button = event.target.closest("[data-action]");
      if (!button || !root.contains(button)) return;
      event.preventDefault();
      if (button.dataset.action === "add") {
        if (rows().length >= max) return;
        var n = rows().length;
        var html = template.innerHTML.replace(/__prefix__/g, String(n)).replace(/__number__/g, String(n + 1));
        list.insertAdjacentHTML("beforeend", html);
        renumber();
        var added = rows()[n];
        var first = added && added.querySelector("input, textarea");
        if (first) first.focus();
      } else if (button.dataset.action === "remove") {
        var row = button.closest("[data-row]");
        if (row) row.remove();
        renumber();
        var add = root.querySelector("[data-action=add]");
        if (add) add.focus();
      }
    });
  });
})();

/* The project form: "Budget (most)" only for a range (shown to everyone without JavaScript). */
(function () {
  "use strict";
  var max = document.querySelector("[data-budget-max]");
  var radios = document.querySelectorAll("input[name=budget_type]");
  if (!max || !radios.length) return;
  function update() {
    var range = document.querySelector("input[name=budget_type]:checked");
    max.hidden = !range || range.value !== "range";
  }
  radios.forEach(function (r) { r.addEventListener("change", update); });
  update();
})();

/* Milestone builder: add, remove and reorder milestones and show package totals live, without
 * reloading. Every button is also a plain submit button handled by the server, so the builder
 * works with JavaScript off; this file only makes it quicker. No build step, no dependencies. */
(function () {
  "use strict";
  var root = document.querySelector("[data-builder]");
  if (!root) return;

  var PREFIX = "ms";
  var TIERS = ["basic", "standard", "premium"];
  var LABELS = { basic: "Basic", standard: "Standard", premium: "Premium" };
  var SYMBOLS = { USD: "$", EUR: "€", GBP: "£" };
  var max = parseInt(root.dataset.max, 10) || 5;
  var currency = root.dataset.currency || "USD";
  var minPrice = parseInt(root.dataset.minPrice, 10) || 0;
  var minBasic = parseInt(root.dataset.minBasic, 10) || 0;
  var list = root.querySelector("[data-list]");
  var template = document.getElementById("milestone-template");
  var totalForms = document.getElementById("id_" + PREFIX + "-TOTAL_FORMS");

  function milestones() { return Array.prototype.slice.call(list.querySelectorAll("[data-milestone]")); }

  var exponent = parseInt(root.dataset.exponent, 10);
  if (isNaN(exponent)) exponent = 2;
  var scale = Math.pow(10, exponent);

  // Typed prices -> minor units without floating point, accepting exactly what the server's
  // marketplace.money.to_minor accepts: commas grouping thousands ("1,250.50"), a decimal comma
  // before the cents ("12,50" = 12.50), otherwise "." as the decimal mark; at most the currency's
  // decimals and 15 whole digits; no sign, no exponent. NaN for anything else (the server then
  // shows why, and counts it as nothing in the totals it renders).
  var PLAIN = /^([0-9]*)(?:\.([0-9]*))?$/;
  var GROUPED = /^([0-9]{1,3}(?:,[0-9]{3})+)(?:\.([0-9]*))?$/;
  var DECIMAL_COMMA = /^([0-9]+),([0-9]{1,2})$/;
  function toMinor(text) {
    var s = String(text == null ? "" : text).replace(/^[ \t\n\r\f\v]+|[ \t\n\r\f\v]+$/g, "");
    var m = PLAIN.exec(s) || GROUPED.exec(s) || DECIMAL_COMMA.exec(s);
    if (!m || (m[1] + (m[2] || "")) === "") return NaN;
    var whole = m[1].replace(/,/g, "").replace(/^0+/, "");
    var frac = (m[2] || "").replace(/0+$/, "");
    if (whole.length > 15 || frac.length > exponent) return NaN;
    return parseInt(whole || "0", 10) * scale + (frac ? parseInt((frac + "000").slice(0, exponent), 10) : 0);
  }
  function money(minor) {
    var whole = Math.floor(minor / scale), cents = minor % scale;
    var text = whole.toLocaleString("en-US") + (cents ? "." + String(cents).padStart(exponent, "0") : "");
    return SYMBOLS[currency] ? SYMBOLS[currency] + text : text + " " + currency;
  }

  function renumber() {
    var items = milestones();
    items.forEach(function (item, i) {
      item.querySelectorAll("[name], [id], label[for]").forEach(function (el) {
        ["name", "id", "for"].forEach(function (attr) {
          var v = el.getAttribute(attr);
          if (v) el.setAttribute(attr, v.replace(new RegExp(PREFIX + "-(\\d+|__prefix__)-"), PREFIX + "-" + i + "-"));
        });
      });
      item.querySelector("[data-number]").textContent = "Milestone " + (i + 1);
      item.querySelectorAll("[data-action]").forEach(function (b) {
        b.value = i;
        var verb = { up: "Move milestone " + (i + 1) + " up", down: "Move milestone " + (i + 1) + " down",
                     remove: "Remove milestone " + (i + 1) }[b.dataset.action];
        if (verb) b.setAttribute("aria-label", verb);
      });
    });
    totalForms.value = items.length;
    var full = items.length >= max;
    var add = root.querySelector("[data-action=add]");
    add.disabled = full;
    root.querySelector("[data-limit-note]").textContent = full ? "You have reached the limit of " + max + " milestones." : "";
    root.querySelector("[data-empty]").hidden = items.length > 0;
    root.querySelector("[data-add-row]").hidden = items.length === 0;
    update();
  }

  function addMilestone() {
    if (milestones().length >= max) return;
    var n = milestones().length + 1;
    var html = template.innerHTML.replace(/__prefix__/g, String(n - 1)).replace(/__number__/g, String(n));
    var holder = document.createElement("div");
    holder.innerHTML = html.trim();
    var item = holder.firstElementChild;
    item.querySelector("[name$='-name']").value = "Milestone " + n;
    TIERS.forEach(function (t) { item.querySelector("[name$='-" + t + "_included']").checked = true; });
    list.appendChild(item);
    renumber();
    item.querySelector("[name$='-name']").focus();
  }

  function update() {
    var hints = [];
    var totals = {};
    TIERS.forEach(function (tier) {
      var price = 0, days = 0, count = 0;
      milestones().forEach(function (item, i) {
        var row = item.querySelector("tr[data-tier=" + tier + "]");
        var included = row.querySelector("[name$='_included']").checked;
        row.classList.toggle("excluded", !included);
        if (!included) return;
        count += 1;
        var p = toMinor(row.querySelector("[name$='_price']").value);
        var d = parseInt(row.querySelector("[name$='_delivery_days']").value, 10);
        if (!isNaN(p)) {
          price += p;
          if (p < minPrice) hints.push("Milestone " + (i + 1) + " costs less than " + money(minPrice) + " in " + LABELS[tier] + ".");
        }
        if (!isNaN(d)) days += d;
      });
      totals[tier] = price;
      var cells = root.querySelector("[data-total=" + tier + "]");
      cells.querySelector("[data-count]").textContent = count;
      cells.querySelector("[data-price]").textContent = money(price);
      cells.querySelector("[data-days]").textContent = days + (days === 1 ? " day" : " days");
      if (milestones().length && !count) hints.push("The " + LABELS[tier] + " package needs at least one milestone.");
    });
    if (milestones().length && totals.basic < minBasic) hints.push("The Basic package must total at least " + money(minBasic) + ".");
    if (totals.standard < totals.basic) hints.push("Standard cannot cost less than Basic.");
    if (totals.premium < totals.standard) hints.push("Premium cannot cost less than Standard.");
    var box = root.querySelector("[data-hints]");
    box.innerHTML = "";
    hints.forEach(function (h) { var li = document.createElement("li"); li.textContent = h; box.appendChild(li); });
  }

  root.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-action]");
    if (!button || !root.contains(button)) return;
    var action = button.dataset.action;
    var item = button.closest("[data-milestone]");
    event.preventDefault();
    if (action === "add" || action === "start") addMilestone();
    else if (action === "remove") item.remove();
    else if (action === "up" && item.previousElementSibling) list.insertBefore(item, item.previousElementSibling);
    else if (action === "down" && item.nextElementSibling) list.insertBefore(item.nextElementSibling, item);
    renumber();
  });
  root.addEventListener("input", update);
  root.addEventListener("change", update);
  root.dataset.enhanced = "true";
  renumber();
})();

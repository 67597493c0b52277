// hipspine pages: small progressive enhancements. Everything works without this script.
(function () {
  "use strict";

  function shade(shape, value) {
    var v = value === "" || value == null ? null : Number(value);
    shape.classList.toggle("marked", v !== null && !isNaN(v));
    shape.style.setProperty("--level", v === null || isNaN(v) ? 0 : v / 10);
    var label = shape.getAttribute("aria-label").replace(/: pain .*$/, "");
    shape.setAttribute("aria-label", v === null || isNaN(v) ? label : label + ": pain " + v + " of 10");
  }

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text) node.textContent = text;
    return node;
  }

  // Body pain map: a region on the drawing picks its intensity field; the picker under the
  // drawing sets the number with − and + (no keyboard needed on a phone), and the table
  // stays for typing. Arrow keys, + and − do the same on a focused region.
  document.querySelectorAll("[data-bodymap]").forEach(function (map) {
    var current = null;
    function inputFor(field) {
      return map.querySelector('input[name="' + field + '"]');
    }
    function labelOf(field) {
      var shape = map.querySelector('.region[data-field="' + field + '"]');
      return shape ? shape.getAttribute("aria-label").replace(/: pain .*$/, "") : field;
    }

    var picker = el("div", { class: "map-picker", role: "group", "aria-label": "Pain in the chosen place" });
    picker.hidden = true;
    var name = el("p", { class: "picker-name", "aria-live": "polite" });
    var row = el("div", { class: "picker-row" });
    var less = el("button", { type: "button", class: "step", "aria-label": "Less pain" }, "−");
    var value = el("output", { class: "picker-value" });
    var more = el("button", { type: "button", class: "step", "aria-label": "More pain" }, "+");
    var clear = el("button", { type: "button", class: "picker-clear", "aria-label": "Remove this place" }, "Remove");
    var done = el("button", { type: "button", class: "picker-done" }, "Done");
    row.append(less, value, more, clear, done);
    picker.append(name, row);
    map.appendChild(picker);

    function set(field, v) {
      var input = inputFor(field);
      input.value = v === null ? "" : String(v);
      input.dispatchEvent(new Event("input", { bubbles: true }));
    }
    function refresh() {
      if (!current) { picker.hidden = true; return; }
      var v = inputFor(current).value;
      picker.hidden = false;
      value.textContent = v === "" ? "–" : v;
      name.textContent = labelOf(current) + (v === "" ? ": not painful" : ": pain " + v + " of 10");
      less.disabled = v === "" || Number(v) <= 0;
      more.disabled = v !== "" && Number(v) >= 10;
    }
    function step(field, by) {
      var v = inputFor(field).value;
      var n = v === "" ? 5 : Math.min(10, Math.max(0, Number(v) + by));
      set(field, n);
    }
    function choose(field) {
      current = field;
      map.querySelectorAll(".region.current").forEach(function (s) { s.classList.remove("current"); });
      map.querySelectorAll('.region[data-field="' + field + '"]').forEach(function (s) { s.classList.add("current"); });
      if (inputFor(field).value === "") set(field, 5);
      refresh();
    }

    less.addEventListener("click", function () { if (current) step(current, -1); });
    more.addEventListener("click", function () { if (current) step(current, 1); });
    clear.addEventListener("click", function () { if (current) set(current, null); });
    done.addEventListener("click", function () {
      var back = current && map.querySelector('.region[data-field="' + current + '"]');
      current = null;
      map.querySelectorAll(".region.current").forEach(function (s) { s.classList.remove("current"); });
      refresh();
      if (back) back.focus();
    });

    map.querySelectorAll(".region").forEach(function (shape) {
      var field = shape.dataset.field;
      if (!inputFor(field)) return;
      shade(shape, inputFor(field).value);
      shape.addEventListener("click", function () { choose(field); });
      shape.addEventListener("keydown", function (e) {
        if (e.key === "Enter" || e.key === " ") { e.preventDefault(); choose(field); }
        else if (e.key === "ArrowUp" || e.key === "ArrowRight" || e.key === "+") { e.preventDefault(); current = field; step(field, 1); }
        else if (e.key === "ArrowDown" || e.key === "ArrowLeft" || e.key === "-") { e.preventDefault(); current = field; step(field, -1); }
        else if (e.key === "Delete" || e.key === "Backspace") { e.preventDefault(); current = field; set(field, null); }
      });
    });
    map.addEventListener("input", function (e) {
      var t = e.target;
      if (!t.name || t.name.indexOf("pain.") !== 0) return;
      map.querySelectorAll('.region[data-field="' + t.name + '"]').forEach(function (s) { shade(s, t.value); });
      t.closest("tr").classList.toggle("marked", t.value !== "");
      if (t.name === current) refresh();
    });
    map.querySelectorAll("input.intensity").forEach(function (i) {
      if (i.value !== "") i.closest("tr").classList.add("marked");
    });
  });

  // Wide tables scroll inside their own box on a narrow screen instead of widening the page.
  document.querySelectorAll("main table").forEach(function (table) {
    if (table.closest(".table-scroll, .map-table") || table.classList.contains("list") || table.classList.contains("findings-table")) return;
    var box = el("div", { class: "table-scroll" });
    table.parentNode.insertBefore(box, table);
    box.appendChild(table);
  });
  function focusableScrollers() {
    document.querySelectorAll(".table-scroll, .chart .svg, .cr-svg").forEach(function (box) {
      var scrolls = box.scrollWidth > box.clientWidth + 1;
      // A box that scrolls must be reachable from the keyboard (WCAG 2.1.1).
      if (scrolls) box.setAttribute("tabindex", "0"); else box.removeAttribute("tabindex");
    });
  }
  focusableScrollers();
  window.addEventListener("resize", focusableScrollers);

  // The PDF takes a few seconds to write: say so at once, on the button itself.
  document.querySelectorAll("a.pdf").forEach(function (link) {
    var label = link.textContent;
    function reset() {
      link.classList.remove("busy");
      link.removeAttribute("aria-busy");
      link.textContent = label;
    }
    link.addEventListener("click", function (e) {
      if (e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
      if (link.classList.contains("busy")) { e.preventDefault(); return; }
      link.classList.add("busy");
      link.setAttribute("aria-busy", "true");
      link.textContent = "Preparing the PDF…";
      setTimeout(reset, 12000);
    });
    window.addEventListener("pageshow", reset);
  });

  document.querySelectorAll("[data-copy]").forEach(function (button) {
    button.addEventListener("click", function () {
      var field = document.querySelector(button.dataset.copy);
      field.select();
      if (navigator.clipboard) navigator.clipboard.writeText(field.value);
      button.textContent = "Copied";
    });
  });

  var first = document.querySelector("[data-autofocus]");
  if (first) first.focus();
})();

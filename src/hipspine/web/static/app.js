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

  // Body pain map: a region on the drawing is a shortcut to its intensity field.
  document.querySelectorAll("[data-bodymap]").forEach(function (map) {
    function inputFor(field) {
      return map.querySelector('input[name="' + field + '"]');
    }
    map.querySelectorAll(".region").forEach(function (shape) {
      var input = inputFor(shape.dataset.field);
      if (!input) return;
      shade(shape, input.value);
      function pick() {
        if (input.value === "") input.value = "5";
        input.dispatchEvent(new Event("input", { bubbles: true }));
        input.focus();
        input.select();
      }
      shape.addEventListener("click", pick);
      shape.addEventListener("keydown", function (e) {
        if (e.key === "Enter" || e.key === " ") { e.preventDefault(); pick(); }
      });
    });
    map.addEventListener("input", function (e) {
      var t = e.target;
      if (!t.name || t.name.indexOf("pain.") !== 0) return;
      map.querySelectorAll('.region[data-field="' + t.name + '"]').forEach(function (s) { shade(s, t.value); });
      t.closest("tr").classList.toggle("marked", t.value !== "");
    });
    map.querySelectorAll("input.intensity").forEach(function (i) {
      if (i.value !== "") i.closest("tr").classList.add("marked");
    });
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

// Sorting and filtering of the leaderboard table; no dependencies, works from file://.
(function () {
  "use strict";
  var table = document.getElementById("board");
  if (!table) { return; }
  var body = table.tBodies[0];
  var rows = Array.prototype.slice.call(body.rows);
  var count = document.getElementById("shown");

  function cellValue(row, index, numeric) {
    var cell = row.cells[index];
    if (!numeric) { return (cell.getAttribute("data-value") || cell.textContent).toLowerCase(); }
    var v = parseFloat(cell.getAttribute("data-value"));
    return isNaN(v) ? null : v;
  }

  Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, index) {
    th.classList.add("sortable");
    th.addEventListener("click", function () {
      var numeric = th.getAttribute("data-type") === "num";
      var asc = !th.classList.contains("sorted-asc");
      Array.prototype.forEach.call(table.tHead.rows[0].cells, function (other) {
        other.classList.remove("sorted-asc", "sorted-desc");
      });
      th.classList.add(asc ? "sorted-asc" : "sorted-desc");
      rows.sort(function (a, b) {
        var x = cellValue(a, index, numeric), y = cellValue(b, index, numeric);
        if (x === y) { return 0; }
        if (x === null) { return 1; }          // missing values last, either way
        if (y === null) { return -1; }
        return (x < y ? -1 : 1) * (asc ? 1 : -1);
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });

  var filters = Array.prototype.slice.call(document.querySelectorAll("[data-filter]"));
  var search = document.getElementById("search");
  function apply() {
    var text = search ? search.value.trim().toLowerCase() : "";
    var shown = 0;
    rows.forEach(function (row) {
      var ok = filters.every(function (f) {
        return !f.value || row.getAttribute("data-" + f.getAttribute("data-filter")) === f.value;
      });
      if (ok && text) { ok = row.getAttribute("data-sae").toLowerCase().indexOf(text) !== -1; }
      row.hidden = !ok;
      if (ok) { shown += 1; }
    });
    if (count) { count.textContent = String(shown); }
  }
  filters.forEach(function (f) { f.addEventListener("change", apply); });
  if (search) { search.addEventListener("input", apply); }
  apply();
}());

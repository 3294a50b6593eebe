// The leaderboard page: table (filters, sorting, column choice, "indistinguishable from the best" marks), the
// plot explorer (axes, colour, hover, zoom, compare) and the view in the URL. Hand-written, no dependencies, no
// network: it works opened from disk. Every string from the results is set with textContent, never as HTML.
(function () {
  "use strict";
  var dataEl = document.getElementById("board-data");
  if (!dataEl) { return; }
  var D = JSON.parse(dataEl.textContent);
  var COLS = D.columns, SAES = D.saes, NOISE = D.noise || {};
  var COL_INDEX = {};
  COLS.forEach(function (c, i) { COL_INDEX[c.key] = i; });
  var FACTS = ["model", "hook", "architecture", "width"];
  var DEFAULT_HIDDEN = ["model", "hook"];          // shown under each SAE id instead: the table fits 1400 px
  var PAGE = 200;
  var PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                 "#bcbd22", "#17becf"];
  var SVGNS = "http://www.w3.org/2000/svg";
  var MAX_PANELS = 12;
  var firstMetric = COLS.filter(function (c) { return c.key !== "core/l0" && c.label !== "l0"; })[0];
  var state = null, shownRows = PAGE, matching = [];
  var byId = {};
  SAES.forEach(function (s) { byId[s.id] = s; });

  // ---- values -------------------------------------------------------------------------------------------
  function value(sae, key) {
    if (key === "l0") { return sae.l0; }
    if (key === "width") { return sae.width; }
    var i = COL_INDEX[key];
    return i === undefined ? null : sae.v[2 * i];
  }
  function stderr(sae, key) {
    var i = COL_INDEX[key];
    return i === undefined ? null : sae.v[2 * i + 1];
  }
  function floorOf(sae, key) { var m = NOISE[sae.model]; return m && m[key] ? m[key] : 0; }
  function sigma(sae, key) { return Math.max(stderr(sae, key) || 0, floorOf(sae, key)); }
  function isNum(v) { return typeof v === "number" && isFinite(v); }
  function fmt(v) {
    if (!isNum(v)) { return ""; }
    if (Number.isInteger(v) && Math.abs(v) < 1e15) { return String(v); }
    var a = Math.abs(v);
    if (a !== 0 && (a < 1e-4 || a >= 1e6)) { return v.toExponential(3).replace(/\.?0+e/, "e"); }
    return String(parseFloat(v.toPrecision(4)));
  }
  function fmtSe(v) { return isNum(v) ? String(parseFloat(v.toPrecision(2))) : ""; }
  function colLabel(key) {
    if (key === "l0") { return "L0"; }
    if (key === "width") { return "width (latents)"; }
    var c = COLS[COL_INDEX[key]];
    return c ? c.task + ": " + c.label : key;
  }
  function higher(key) { var c = COLS[COL_INDEX[key]]; return c ? c.higher : null; }
  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined && text !== null) { node.textContent = text; }
    return node;
  }
  function svg(tag, attrs) {
    var node = document.createElementNS(SVGNS, tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    return node;
  }
  function download(text, type, name) {            // a file from the page, no server involved
    var a = el("a", {href: URL.createObjectURL(new Blob([text], {type: type})), download: name});
    document.body.appendChild(a); a.click(); a.remove();
  }
  function breakable(text) { return String(text).replace(/_/g, "_\u200b"); }

  // ---- state and URL --------------------------------------------------------------------------------------
  function defaults() {
    var s = {f: {}, q: "", sort: null, desc: false, hide: DEFAULT_HIDDEN.slice(), x: "l0",
             y: firstMetric ? firstMetric.key : "l0", logx: true, color: "architecture", cmp: [], zoom: {}};
    FACTS.forEach(function (f) { s.f[f] = ""; });
    Object.keys(D.settings).forEach(function (t) { s.f["setting-" + t] = ""; });
    return s;
  }
  function readUrl() {
    var s = defaults();
    var p = new URLSearchParams(location.hash.replace(/^#/, ""));
    Object.keys(s.f).forEach(function (f) { if (p.has(f)) { s.f[f] = p.get(f); } });
    if (p.has("q")) { s.q = p.get("q"); }
    if (p.has("sort")) { var v = p.get("sort"); s.desc = v.charAt(0) === "-"; s.sort = s.desc ? v.slice(1) : v; }
    if (p.has("hide")) { s.hide = p.get("hide") ? p.get("hide").split(",") : []; }
    if (p.has("x")) { s.x = p.get("x"); }
    if (p.has("y")) { s.y = p.get("y"); }
    if (p.has("logx")) { s.logx = p.get("logx") === "1"; }
    if (p.has("color")) { s.color = p.get("color"); }
    s.cmp = p.getAll("cmp").filter(function (id) { return byId.hasOwnProperty(id); });
    if (p.has("zoom")) { try { s.zoom = JSON.parse(p.get("zoom")) || {}; } catch (err) { s.zoom = {}; } }
    return s;
  }
  function writeUrl() {
    var p = new URLSearchParams(), d = defaults();
    Object.keys(state.f).forEach(function (f) { if (state.f[f]) { p.set(f, state.f[f]); } });
    if (state.q) { p.set("q", state.q); }
    if (state.sort) { p.set("sort", (state.desc ? "-" : "") + state.sort); }
    if (state.hide.slice().sort().join(",") !== d.hide.slice().sort().join(",")) { p.set("hide", state.hide.join(",")); }
    if (state.x !== d.x) { p.set("x", state.x); }
    if (state.y !== d.y) { p.set("y", state.y); }
    if (state.logx !== d.logx) { p.set("logx", state.logx ? "1" : "0"); }
    if (state.color !== d.color) { p.set("color", state.color); }
    state.cmp.forEach(function (id) { p.append("cmp", id); });
    if (Object.keys(state.zoom).length) { p.set("zoom", JSON.stringify(state.zoom)); }
    var hash = p.toString();
    if (hash !== location.hash.replace(/^#/, "")) { history.replaceState(null, "", hash ? "#" + hash : location.pathname); }
  }

  // ---- filters ----------------------------------------------------------------------------------------------
  function distinct(field) {
    var seen = {};
    SAES.forEach(function (s) { var v = s[field]; if (v !== null && v !== undefined) { seen[String(v)] = 1; } });
    return Object.keys(seen).sort(function (a, b) {
      var na = parseFloat(a), nb = parseFloat(b);
      if (field === "width" && isFinite(na) && isFinite(nb)) { return na - nb; }
      return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
    });
  }
  function buildFilters() {
    var box = document.getElementById("filters");
    if (D.presets.length) {
      var lab = el("label", {}, "preset");
      var sel = el("select", {id: "preset"});
      sel.appendChild(el("option", {value: ""}, "—"));
      D.presets.forEach(function (pr, i) { sel.appendChild(el("option", {value: String(i)}, pr.label + " (" + pr.n + ")")); });
      sel.addEventListener("change", function () {
        if (sel.value === "") { return; }
        var pr = D.presets[+sel.value];
        FACTS.forEach(function (f) { state.f[f] = pr.filters[f] || ""; });
        syncControls(); update();
      });
      lab.appendChild(sel); box.appendChild(lab);
    }
    FACTS.forEach(function (f) {
      var lab = el("label", {}, f);
      var sel = el("select", {"data-filter": f});
      sel.appendChild(el("option", {value: ""}, "all"));
      distinct(f).forEach(function (v) { sel.appendChild(el("option", {value: v}, v)); });
      sel.addEventListener("change", function () { state.f[f] = sel.value; update(); });
      lab.appendChild(sel); box.appendChild(lab);
    });
    Object.keys(D.settings).forEach(function (t) {
      var lab = el("label", {}, t + " setting");
      var sel = el("select", {"data-filter": "setting-" + t});
      sel.appendChild(el("option", {value: ""}, "all"));
      D.settings[t].forEach(function (x) { sel.appendChild(el("option", {value: x[0]}, x[0] + " (" + x[2] + " SAEs)")); });
      sel.addEventListener("change", function () { state.f["setting-" + t] = sel.value; update(); });
      lab.appendChild(sel); box.appendChild(lab);
    });
    var slab = el("label", {}, "SAE id");
    var search = el("input", {id: "search", type: "search", placeholder: "filter by id"});
    var typing = null;                      // one update per pause in typing, not per key (10,000 SAEs)
    search.addEventListener("input", function () {
      clearTimeout(typing);
      typing = setTimeout(function () { state.q = search.value; update(); }, 150);
    });
    slab.appendChild(search); box.appendChild(slab);
  }
  function syncControls() {
    Array.prototype.forEach.call(document.querySelectorAll("[data-filter]"), function (sel) {
      sel.value = state.f[sel.getAttribute("data-filter")] || "";
    });
    var search = document.getElementById("search");
    if (search) { search.value = state.q; }
    var preset = document.getElementById("preset");
    if (preset) {
      preset.value = "";
      D.presets.forEach(function (pr, i) {
        if (FACTS.every(function (f) { return (pr.filters[f] || "") === state.f[f]; })) { preset.value = String(i); }
      });
    }
    Array.prototype.forEach.call(document.querySelectorAll("#column-list input"), function (box) {
      box.checked = state.hide.indexOf(box.value) === -1;
    });
    ["x", "y", "color"].forEach(function (k) { var s = document.getElementById("plot-" + k); if (s) { s.value = state[k]; } });
    var logx = document.getElementById("plot-logx");
    if (logx) { logx.checked = state.logx; }
  }
  function passes(sae) {
    for (var i = 0; i < FACTS.length; i += 1) {
      var f = FACTS[i];
      if (state.f[f] && String(sae[f]) !== state.f[f]) { return false; }
    }
    var tasks = Object.keys(D.settings);
    for (var j = 0; j < tasks.length; j += 1) {
      var want = state.f["setting-" + tasks[j]];
      if (want && !(sae.setting && sae.setting[tasks[j]] === want)) { return false; }
    }
    return !state.q || sae.id.toLowerCase().indexOf(state.q.trim().toLowerCase()) !== -1;
  }

  // ---- the best and those indistinguishable from it -----------------------------------------------------------
  // Per column, among the shown trained SAEs of one model and one setting of the task: the best value is bold;
  // a value is indistinguishable from it when |best - v| <= 2 sqrt(sigma_best^2 + sigma_v^2).
  function marks(rows) {
    var out = {};
    COLS.forEach(function (c) {
      if (c.higher === null) { return; }
      var groups = {};
      rows.forEach(function (s) {
        var v = value(s, c.key);
        if (s.baseline || !isNum(v)) { return; }
        var g = s.model + "\u0001" + s.hook + "\u0001" + (s.setting && s.setting[c.task] ? s.setting[c.task] : "");
        (groups[g] = groups[g] || []).push(s);
      });
      Object.keys(groups).forEach(function (g) {
        var list = groups[g], best = list[0];
        list.forEach(function (s) {
          var v = value(s, c.key), b = value(best, c.key);
          if (c.higher ? v > b : v < b) { best = s; }
        });
        var bv = value(best, c.key), bs = sigma(best, c.key);
        list.forEach(function (s) {
          var d = Math.abs(bv - value(s, c.key)), lim = 2 * Math.sqrt(bs * bs + Math.pow(sigma(s, c.key), 2));
          if (s === best || value(s, c.key) === bv) { out[s.id + "\u0001" + c.key] = "best"; }
          else if (d <= lim) { out[s.id + "\u0001" + c.key] = "near"; }
        });
      });
    });
    return out;
  }

  // ---- the table --------------------------------------------------------------------------------------------
  // Columns the reader hid, and columns without a value among the shown SAEs (another model's tasks), are left out.
  function hasValues(c) {
    for (var i = 0; i < matching.length; i += 1) { if (isNum(value(matching[i], c.key))) { return true; } }
    return false;
  }
  function visibleCols() {
    return COLS.filter(function (c) { return state.hide.indexOf(c.key) === -1 && hasValues(c); });
  }
  function emptyCols() {
    return COLS.filter(function (c) { return state.hide.indexOf(c.key) === -1 && !hasValues(c); });
  }
  function visibleFacts() { return FACTS.filter(function (f) { return state.hide.indexOf(f) === -1; }); }
  var VERDICT_MARK = {"separates": "✓", "does not separate": "✗", "mixed": "~", "not established": "·"};
  var PARITY_MARK = {"equal": "=", "within seeds": "≈", "setting": "≈", "components": "≈", "own": ""};
  function headerCell(c) {
    var th = el("th", {"data-key": c.key, "data-type": "num", "class": "metric sortable"});
    th.appendChild(el("span", {"class": "label"}, breakable(c.label) + " " + c.arrow));
    var badges = el("span", {"class": "badges"});
    var v = el("span", {"class": "verdict v-" + c.verdict.replace(/ /g, "-"), "data-verdict": c.verdict},
               VERDICT_MARK[c.verdict] || "·");
    v.title = "validity: " + c.verdict + " — " + c.verdict_text;
    badges.appendChild(v);
    if (PARITY_MARK[c.parity]) {
      var pb = el("span", {"class": "parity", "data-parity": c.parity}, PARITY_MARK[c.parity]);
      pb.title = "parity: " + c.parity_text;
      badges.appendChild(pb);
    }
    if (c.status) {
      var st = el("span", {"class": "status", "data-status": c.status}, c.status);
      st.title = c.status_text;
      badges.appendChild(st);
    }
    th.appendChild(badges);
    th.title = c.description + "\nvalidity: " + c.verdict + " — " + c.verdict_text + "\nparity: " + c.parity_text +
               (c.status ? "\n" + c.status_text : "");
    return th;
  }
  function buildHead(cols) {
    var thead = document.querySelector("#board thead");
    thead.textContent = "";
    var groupRow = el("tr", {"class": "groups"}), row = el("tr", {"class": "columns"});
    var facts = visibleFacts();
    groupRow.appendChild(el("th", {colspan: String(1 + facts.length), "class": "group"}, ""));
    row.appendChild(el("th", {"data-key": "sae", "data-type": "text", "class": "sortable"}, "SAE"));
    facts.forEach(function (f) {
      row.appendChild(el("th", {"data-key": f, "data-type": f === "width" ? "num" : "text", "class": "sortable"}, f));
    });
    var i = 0;
    while (i < cols.length) {
      var j = i;
      while (j < cols.length && cols[j].task === cols[i].task) { j += 1; }
      groupRow.appendChild(el("th", {colspan: String(j - i), "class": "group", scope: "colgroup"}, cols[i].task));
      for (var k = i; k < j; k += 1) { row.appendChild(headerCell(cols[k])); }
      i = j;
    }
    thead.appendChild(groupRow); thead.appendChild(row);
    Array.prototype.forEach.call(row.cells, function (th) {
      var key = th.getAttribute("data-key");
      if (state.sort === key) { th.classList.add(state.desc ? "sorted-desc" : "sorted-asc"); }
      th.addEventListener("click", function () {
        if (state.sort === key) { state.desc = !state.desc; } else { state.sort = key; state.desc = false; }
        update();
      });
    });
  }
  function sortKey(sae, key) {
    if (key === "sae") { return sae.id.toLowerCase(); }
    if (key === "width") { return sae.width; }
    if (FACTS.indexOf(key) !== -1) { return String(sae[key]).toLowerCase(); }
    var v = value(sae, key);
    return isNum(v) ? v : null;
  }
  var collator = new Intl.Collator(undefined, {numeric: true, sensitivity: "base"});     // l0_9 before l0_10
  function sorted(rows) {
    if (!state.sort) {                                          // trained SAEs first, then baselines
      return rows.filter(function (s) { return !s.baseline; }).concat(rows.filter(function (s) { return s.baseline; }));
    }
    var key = state.sort, dir = state.desc ? -1 : 1;
    return rows.slice().sort(function (a, b) {
      var x = sortKey(a, key), y = sortKey(b, key);
      if (x === y) { return 0; }
      if (x === null || x === undefined) { return 1; }          // missing values last, either way
      if (y === null || y === undefined) { return -1; }
      return (typeof x === "string" ? collator.compare(x, y) : (x < y ? -1 : 1)) * dir;
    });
  }
  function renderRow(sae, mk, selected, cols) {
    var tr = el("tr", {"data-sae": sae.id, "data-model": sae.model, "data-hook": sae.hook,
                       "data-architecture": sae.architecture, "data-width": sae.width === null ? "" : String(sae.width)});
    Object.keys(D.settings).forEach(function (t) {
      tr.setAttribute("data-setting-" + t, sae.setting && sae.setting[t] ? sae.setting[t] : "");
    });
    if (sae.baseline) { tr.classList.add("baseline"); }
    if (selected) { tr.classList.add("selected"); }
    var first = el("td", {"class": "sae", "data-value": sae.id});
    var box = el("input", {type: "checkbox", "class": "pick", title: "compare"});
    box.checked = selected;
    box.addEventListener("change", function () { toggleCompare(sae.id); });
    first.appendChild(box);
    first.appendChild(el("a", {href: "sae/" + sae.page}, sae.id));
    first.appendChild(el("span", {"class": "where"}, sae.model + " · " + sae.hook));
    tr.appendChild(first);
    visibleFacts().forEach(function (f) {
      tr.appendChild(el("td", f === "width" ? {"class": "num", "data-value": String(sae.width)} : {"class": "fact"},
                        f === "width" ? (sae.width === null ? "" : String(sae.width)) : sae[f]));
    });
    cols.forEach(function (c) {
      var v = value(sae, c.key), se = stderr(sae, c.key);
      var td = el("td", {"class": "num", "data-key": c.key, "data-value": isNum(v) ? String(v) : ""});
      if (isNum(v)) {
        td.appendChild(document.createTextNode(fmt(v)));
        if (isNum(se)) { td.appendChild(el("span", {"class": "se"}, "±" + fmtSe(se))); }
        var letter = sae.setting && sae.setting[c.task];
        if (letter) {
          td.appendChild(el("sup", {"class": "setting", title: "computed with setting " + letter + " of " + c.task}, letter));
        }
        if (sae.superseded && sae.superseded[c.task]) {
          td.appendChild(el("sup", {"class": "superseded", title: "computed by " + c.task + " " + sae.superseded[c.task] +
                                    "; the installed definition is " + c.installed + " (superseded)"}, "old"));
        }
        var m = mk[sae.id + "\u0001" + c.key];
        if (m) {
          td.classList.add(m);
          td.title = m === "best" ? "best shown of its model and setting" :
            "indistinguishable from the best shown (within 2σ; σ = max(stderr, noise floor " +
            fmtSe(floorOf(sae, c.key)) + "))";
        }
      }
      tr.appendChild(td);
    });
    return tr;
  }
  function renderTable() {
    var cols = visibleCols();
    buildHead(cols);
    var body = document.querySelector("#board tbody");
    var mk = marks(matching), rows = sorted(matching);
    var frag = document.createDocumentFragment();
    rows.slice(0, shownRows).forEach(function (sae) { frag.appendChild(renderRow(sae, mk, state.cmp.indexOf(sae.id) !== -1, cols)); });
    body.textContent = "";
    body.appendChild(frag);
    document.getElementById("shown").textContent = String(matching.length);
    document.getElementById("total").textContent = String(SAES.length);
    var more = document.getElementById("more");
    more.hidden = rows.length <= shownRows;
    more.textContent = "Show " + Math.min(PAGE, rows.length - shownRows) + " more rows";
    var empty = emptyCols().map(function (c) { return c.key; });
    document.getElementById("page-note").textContent = (rows.length > shownRows ?
      "(the first " + shownRows + " rows are in the table; the plots show all) " : "") +
      (empty.length ? "(" + empty.length + " columns without values here are left out: " + empty.join(", ") + ")" : "");
  }
  function buildColumnChooser() {
    var box = document.getElementById("column-list");
    function group(name, items) {
      var fs = el("fieldset", {}); fs.appendChild(el("legend", {}, name));
      items.forEach(function (it) {
        var lab = el("label", {});
        var cb = el("input", {type: "checkbox", value: it[0]});
        cb.checked = state.hide.indexOf(it[0]) === -1;
        cb.addEventListener("change", function () {
          state.hide = state.hide.filter(function (k) { return k !== it[0]; });
          if (!cb.checked) { state.hide.push(it[0]); }
          update();
        });
        lab.appendChild(cb); lab.appendChild(document.createTextNode(" " + it[1])); fs.appendChild(lab);
      });
      box.appendChild(fs);
    }
    group("SAE facts", FACTS.map(function (f) { return [f, f]; }));
    var tasks = [];
    COLS.forEach(function (c) { if (tasks.indexOf(c.task) === -1) { tasks.push(c.task); } });
    tasks.forEach(function (t) {
      group(t, COLS.filter(function (c) { return c.task === t; }).map(function (c) { return [c.key, c.label]; }));
    });
  }

  // ---- compare ------------------------------------------------------------------------------------------------
  function toggleCompare(id) {
    var i = state.cmp.indexOf(id);
    if (i === -1) { state.cmp.push(id); } else { state.cmp.splice(i, 1); }
    update();
  }
  function renderCompare() {
    var section = document.getElementById("compare"), box = document.getElementById("compare-table");
    var picked = state.cmp.map(function (id) { return byId[id]; });
    section.hidden = picked.length === 0;
    box.textContent = "";
    if (!picked.length) { return; }
    var table = el("table", {id: "compare-grid"}), head = el("tr", {});
    head.appendChild(el("th", {}, "metric"));
    picked.forEach(function (s) {
      var th = el("th", {"data-sae": s.id});
      th.appendChild(el("a", {href: "sae/" + s.page}, s.id));
      var x = el("button", {type: "button", "class": "remove", title: "remove from the comparison"}, "×");
      x.addEventListener("click", function () { toggleCompare(s.id); });
      th.appendChild(x);
      head.appendChild(th);
    });
    table.appendChild(head);
    var facts = [["model", "model"], ["hook", "hook"], ["architecture", "architecture"], ["width", "width"]];
    facts.forEach(function (f) {
      var tr = el("tr", {}); tr.appendChild(el("th", {}, f[1]));
      picked.forEach(function (s) { tr.appendChild(el("td", {}, s[f[0]] === null ? "" : String(s[f[0]]))); });
      table.appendChild(tr);
    });
    COLS.forEach(function (c) {
      var tr = el("tr", {"data-key": c.key}); tr.appendChild(el("th", {}, c.task + ": " + c.label + " " + c.arrow));
      var vals = picked.map(function (s) { return value(s, c.key); }).filter(isNum);
      var best = c.higher === null || !vals.length ? null : (c.higher ? Math.max.apply(null, vals) : Math.min.apply(null, vals));
      picked.forEach(function (s) {
        var v = value(s, c.key), se = stderr(s, c.key);
        var td = el("td", {"class": "num", "data-value": isNum(v) ? String(v) : ""},
                    isNum(v) ? fmt(v) + (isNum(se) ? " ±" + fmtSe(se) : "") : "");
        if (isNum(v) && v === best && picked.length > 1) { td.classList.add("best"); }
        tr.appendChild(td);
      });
      table.appendChild(tr);
    });
    box.appendChild(table);
  }

  // ---- plots ------------------------------------------------------------------------------------------------
  function buildPlotControls() {
    var box = document.getElementById("plot-controls");
    var axes = [["l0", "L0"], ["width", "width (latents)"]].concat(COLS.map(function (c) { return [c.key, colLabel(c.key)]; }));
    function select(id, label, options, key) {
      var lab = el("label", {}, label), sel = el("select", {id: id});
      options.forEach(function (o) { sel.appendChild(el("option", {value: o[0]}, o[1])); });
      sel.value = state[key];
      sel.addEventListener("change", function () {
        state[key] = sel.value;
        if (key === "x") { state.logx = sel.value === "l0" || sel.value === "width"; state.zoom = {}; }
        if (key === "y") { state.zoom = {}; }
        syncControls(); update();
      });
      lab.appendChild(sel); box.appendChild(lab);
    }
    select("plot-x", "x axis", axes, "x");
    select("plot-y", "y axis", axes.slice(2).concat([["l0", "L0"]]), "y");
    select("plot-color", "colour by", [["architecture", "architecture"], ["width", "width"], ["hook", "hook"],
                                       ["model", "model"]], "color");
    var lab = el("label", {"class": "check"}), cb = el("input", {type: "checkbox", id: "plot-logx"});
    cb.checked = state.logx;
    cb.addEventListener("change", function () { state.logx = cb.checked; state.zoom = {}; update(); });
    lab.appendChild(cb); lab.appendChild(document.createTextNode(" log x")); box.appendChild(lab);
    var reset = el("button", {type: "button", id: "reset-zoom"}, "reset zoom");
    reset.addEventListener("click", function () { state.zoom = {}; update(); });
    box.appendChild(reset);
  }
  function niceTicks(lo, hi, n) {
    if (!(hi > lo)) { return [lo]; }
    var step = Math.pow(10, Math.floor(Math.log10((hi - lo) / n))), err = (hi - lo) / n / step;
    if (err >= 7.5) { step *= 10; } else if (err >= 3.5) { step *= 5; } else if (err >= 1.5) { step *= 2; }
    var out = [];
    for (var t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) { out.push(Math.abs(t) < step * 1e-9 ? 0 : t); }
    return out;
  }
  function logTicks(lo, hi) {
    var out = [], mults = hi / lo < 30 ? [1, 1.5, 2, 3, 5, 7] : hi / lo < 1000 ? [1, 2, 5] : [1];
    for (var e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e += 1) {
      mults.forEach(function (m) { var t = m * Math.pow(10, e); if (t >= lo && t <= hi) { out.push(t); } });
    }
    return out;
  }
  function tickText(t) { return String(parseFloat(t.toPrecision(6))); }
  function colorKeyOf(s) { return s[state.color] === null || s[state.color] === undefined ? "?" : String(s[state.color]); }
  // When no shown SAE has the chosen y metric (the synthetic model has no core), the y axis falls back to the
  // first headline metric they do have, so a preset never opens on empty plots.
  function fallbackY() {
    if (state.y === "l0" || state.y === "width" || !COL_INDEX.hasOwnProperty(state.y)) { return; }
    if (hasValues(COLS[COL_INDEX[state.y]])) { return; }
    var first = COLS.filter(function (c) { return c.label !== "l0" && hasValues(c); })[0];
    if (first) { state.y = first.key; state.zoom = {}; }
  }
  function renderPlots() {
    var box = document.getElementById("plots");
    box.textContent = "";
    fallbackY();
    var groups = {}, order = [];
    matching.forEach(function (s) {                 // one panel per model and hook: only those are comparable
      var key = s.model + " · " + s.hook;
      if (!groups[key]) { groups[key] = []; order.push(key); }
      groups[key].push(s);
    });
    order.sort(collator.compare);
    var colours = {};
    var keys = {};
    SAES.forEach(function (s) { if (!s.baseline) { keys[colorKeyOf(s)] = 1; } });
    distinct(state.color).filter(function (v) { return keys[v]; }).forEach(function (v, i) { colours[v] = PALETTE[i % PALETTE.length]; });
    var empty = [];
    order.slice(0, MAX_PANELS).forEach(function (key) {
      var fig = panel(key, groups[key], colours);
      if (fig) { box.appendChild(fig); } else { empty.push(key); }
    });
    var legend = document.getElementById("plot-legend");
    legend.textContent = "";
    if (empty.length) {
      legend.appendChild(el("span", {"class": "no-values"}, "No SAE of " + empty.join(", ") + " has both " + colLabel(state.x) +
                            " and " + colLabel(state.y) + ". "));
    }
    if (order.length > MAX_PANELS) {
      legend.appendChild(el("span", {"class": "warn-inline"}, "Showing the first " + MAX_PANELS + " of " + order.length +
                            " model · hook panels; filter (or pick a preset) for the others. "));
    }
    legend.appendChild(document.createTextNode("One panel per model and hook (values of different models or layers are not comparable). " +
      "Colour: " + state.color + ". Bars: ±σ, the larger of the standard error and the noise floor measured for " +
      "the model. Green band: within 2σ of the panel's best trained SAE. Step line: each colour's Pareto frontier. " +
      "Grey diamonds: baselines (controls); dashed lines: baselines without an x value. Hover a point for its SAE; click it to compare; drag to zoom, double-click to " +
      "reset. "));
    Object.keys(colours).forEach(function (k) {
      var sw = el("span", {"class": "swatch"}); sw.style.background = colours[k];
      legend.appendChild(sw); legend.appendChild(document.createTextNode(k + " "));
    });
  }
  function frontierOf(points, hi) {
    var sortedPts = points.slice().sort(function (a, b) { return a.x - b.x || (hi ? b.y - a.y : a.y - b.y); });
    var out = [], best = null;
    sortedPts.forEach(function (p) {
      if (best === null || (hi ? p.y > best : p.y < best)) { out.push(p); best = p.y; }
    });
    return out;
  }
  function panel(model, rows, colours) {            // model: the panel's "<model> · <hook>"
    var W = 600, H = 380, L = 64, R = 14, T = 30, B = 46;
    var xKey = state.x, yKey = state.y, hi = higher(yKey);
    var logx = state.logx;
    var pts = [], baselines = [];
    rows.forEach(function (s) {
      var x = value(s, xKey), y = value(s, yKey);
      if (!isNum(y)) { return; }
      var placed = isNum(x) && !(logx && x <= 0);
      if (s.baseline && !placed) { baselines.push({s: s, y: y}); return; }     // no x: a reference line
      if (!placed) { return; }
      pts.push({s: s, x: x, y: y, e: yKey === "l0" || yKey === "width" ? 0 : sigma(s, yKey), base: s.baseline});
    });
    var trained = pts.filter(function (p) { return !p.base; });
    if (!pts.length && !baselines.length) { return null; }
    var fig = el("figure", {"class": "panel", "data-model": rows[0].model, "data-hook": rows[0].hook});
    var root = svg("svg", {viewBox: "0 0 " + W + " " + H, width: W, height: H, "class": "explorer",
                           "data-model": rows[0].model, "data-hook": rows[0].hook, "data-x": xKey, "data-y": yKey});
    var title = svg("text", {x: L, y: 18, "class": "ptitle"});
    title.textContent = model + " — " + colLabel(yKey) + " vs " + colLabel(xKey) + " (" + trained.length + " SAEs, " +
      (pts.length - trained.length + baselines.length) + " baselines)";
    root.appendChild(title);
    var tx = function (v) { return logx ? Math.log10(v) : v; };
    var ranged = trained.length ? trained : pts;     // the range fits the trained SAEs; baselines may lie outside
    var xs = ranged.map(function (p) { return tx(p.x); });
    var ys = ranged.map(function (p) { return p.y; });
    if (!ys.length) { ys = baselines.map(function (b) { return b.y; }); }
    var x0 = Math.min.apply(null, xs.length ? xs : [0]), x1 = Math.max.apply(null, xs.length ? xs : [1]);
    var y0 = Math.min.apply(null, ys), y1 = Math.max.apply(null, ys);
    if (x1 === x0) { x0 -= 0.5; x1 += 0.5; }
    if (y1 === y0) { var pad0 = Math.abs(y0) * 0.05 || 0.5; y0 -= pad0; y1 += pad0; }
    var px = (x1 - x0) * 0.05, py = (y1 - y0) * 0.08;
    x0 -= px; x1 += px; y0 -= py; y1 += py;
    var z = state.zoom[model];
    if (z && z.length === 4) { x0 = tx(z[0]); x1 = tx(z[1]); y0 = z[2]; y1 = z[3]; }
    var sx = function (v) { return L + (tx(v) - x0) / (x1 - x0) * (W - L - R); };
    var sy = function (v) { return H - B - (v - y0) / (y1 - y0) * (H - T - B); };
    var clipId = "clip-" + Math.random().toString(36).slice(2);
    var defs = svg("defs"), clip = svg("clipPath", {id: clipId});
    clip.appendChild(svg("rect", {x: L, y: T, width: W - L - R, height: H - T - B}));
    defs.appendChild(clip); root.appendChild(defs);
    var grid = svg("g", {"class": "grid"});
    var xt = logx ? logTicks(Math.pow(10, x0), Math.pow(10, x1)) : niceTicks(x0, x1, 6);
    xt.forEach(function (t) {
      var X = sx(t);
      grid.appendChild(svg("line", {x1: X, x2: X, y1: T, y2: H - B, stroke: "#e4e7ee"}));
      var lab = svg("text", {x: X, y: H - B + 16, "text-anchor": "middle", "class": "tick x-tick", fill: "#5b6475"});
      lab.textContent = tickText(t); grid.appendChild(lab);
    });
    niceTicks(y0, y1, 6).forEach(function (t) {
      var Y = sy(t);
      grid.appendChild(svg("line", {x1: L, x2: W - R, y1: Y, y2: Y, stroke: "#e4e7ee"}));
      var lab = svg("text", {x: L - 6, y: Y + 4, "text-anchor": "end", "class": "tick y-tick", fill: "#5b6475"});
      lab.textContent = tickText(t); grid.appendChild(lab);
    });
    root.appendChild(grid);
    root.appendChild(svg("rect", {x: L, y: T, width: W - L - R, height: H - T - B, "class": "frame", fill: "none", stroke: "#9aa3b2"}));
    var xl = svg("text", {x: (L + W - R) / 2, y: H - 8, "text-anchor": "middle", "class": "axis-label"});
    xl.textContent = colLabel(xKey) + (logx ? " (log scale)" : "");
    var yl = svg("text", {x: -((T + H - B) / 2), y: 14, transform: "rotate(-90)", "text-anchor": "middle", "class": "axis-label"});
    yl.textContent = colLabel(yKey) + (hi === true ? " ↑" : hi === false ? " ↓" : "");
    root.appendChild(xl); root.appendChild(yl);
    var area = svg("g", {"clip-path": "url(#" + clipId + ")"});
    if (hi !== null && hi !== undefined && trained.length) {                 // indistinguishable-from-best band
      var best = trained[0];
      trained.forEach(function (p) { if (hi ? p.y > best.y : p.y < best.y) { best = p; } });
      var edge = hi ? best.y - 2 * best.e : best.y + 2 * best.e;
      var top = sy(Math.max(best.y, edge)), bottom = sy(Math.min(best.y, edge));
      area.appendChild(svg("rect", {x: L, width: W - L - R, y: top, height: Math.max(1, bottom - top), "class": "best-band", fill: "#2ca02c", "fill-opacity": "0.12",
                                    "data-best": best.s.id}));
    }
    baselines.forEach(function (b, i) {
      var line = svg("line", {x1: L, x2: W - R, y1: sy(b.y), y2: sy(b.y), "class": "baseline-line", stroke: "#555", "stroke-width": "1.2",
                              "stroke-dasharray": ["6 3", "2 3", "8 3 2 3", "1 4", "10 4", "4 2 1 2"][i % 6],
                              "data-sae": b.s.id});
      area.appendChild(line);
    });
    var outside = pts.filter(function (p) { return tx(p.x) < x0 || tx(p.x) > x1 || p.y < y0 || p.y > y1; }).length +
      baselines.filter(function (b) { return b.y < y0 || b.y > y1; }).length;
    if (outside) {
      var off = svg("text", {x: W - R, y: 18, "text-anchor": "end", "class": "tick off-range"});
      off.textContent = outside + " outside the plotted range";
      root.appendChild(off);
    }
    var byColour = {};
    trained.forEach(function (p) { var k = colorKeyOf(p.s); (byColour[k] = byColour[k] || []).push(p); });
    if (xKey === "l0" && hi !== null && hi !== undefined) {
      Object.keys(byColour).forEach(function (k) {
        var f = frontierOf(byColour[k], hi);
        if (f.length < 2) { return; }
        var d = "M" + sx(f[0].x) + "," + sy(f[0].y);
        for (var i = 1; i < f.length; i += 1) { d += " H" + sx(f[i].x) + " V" + sy(f[i].y); }
        d += " H" + (W - R);
        area.appendChild(svg("path", {d: d, "class": "frontier", fill: "none", "stroke-width": "1.5", stroke: colours[k] || "#333"}));
      });
    }
    pts.forEach(function (p) {
      if (p.e > 0) {
        area.appendChild(svg("line", {x1: sx(p.x), x2: sx(p.x), y1: sy(p.y - p.e), y2: sy(p.y + p.e), "class": "bar", "stroke-width": "1.2", opacity: "0.6",
                                      stroke: colours[colorKeyOf(p.s)] || "#333"}));
      }
    });
    var picked = [];
    pts.forEach(function (p) {
      var on = state.cmp.indexOf(p.s.id) !== -1;
      var c = p.base ?
        svg("rect", {x: sx(p.x) - 4, y: sy(p.y) - 4, width: 8, height: 8, transform: "rotate(45 " + sx(p.x) + " " + sy(p.y) + ")",
                     "class": "point baseline-point" + (on ? " picked" : ""), "data-sae": p.s.id, fill: "#fff",
                     stroke: "#555", "stroke-width": "1.5"}) :
        svg("circle", {cx: sx(p.x), cy: sy(p.y), r: on ? 6 : 4, fill: colours[colorKeyOf(p.s)] || "#333",
                       "class": "point" + (on ? " picked" : ""), "data-sae": p.s.id, stroke: on ? "#000" : "#fff",
                       "stroke-width": on ? "2" : "1"});
      if (pts.length <= 500) {                    // keyboard: Tab to a point, Enter adds it to the comparison
        c.setAttribute("tabindex", "0");
        c.setAttribute("role", "button");
        c.setAttribute("aria-label", p.s.id + ": " + colLabel(xKey) + " " + fmt(p.x) + ", " + colLabel(yKey) + " " + fmt(p.y));
      }
      area.appendChild(c);
      if (on) { picked.push(p); }
    });
    picked.forEach(function (p) {
      var t = svg("text", {x: sx(p.x) + 8, y: sy(p.y) - 8, "class": "pick-label"});
      t.textContent = p.s.id; area.appendChild(t);
    });
    root.appendChild(area);
    var sel = svg("rect", {"class": "zoom-box", visibility: "hidden"});
    root.appendChild(sel);
    attachZoom(root, sel, model, {L: L, R: R, T: T, B: B, W: W, H: H, x0: x0, x1: x1, y0: y0, y1: y1, logx: logx});
    fig.appendChild(root);
    var cap = el("figcaption", {"class": "meta"});
    var dl = el("a", {href: "#", "class": "download"}, "download this plot as SVG");
    dl.addEventListener("click", function (ev) {
      ev.preventDefault();
      var text = svgFile(root);
      download(text, "image/svg+xml", (model + "_" + yKey + "_vs_" + xKey).replace(/[^A-Za-z0-9._-]+/g, "_") + ".svg");
    });
    cap.appendChild(dl);
    fig.appendChild(cap);
    return fig;
  }
  // The plot as a standalone SVG file: presentation attributes carry the styling, so it renders the same
  // outside the page (papers, editors); the zoom box is dropped.
  function svgFile(root) {
    var copy = root.cloneNode(true);
    Array.prototype.forEach.call(copy.querySelectorAll(".zoom-box"), function (n) { n.remove(); });
    copy.setAttribute("xmlns", SVGNS);
    copy.setAttribute("font-family", "sans-serif");
    copy.setAttribute("font-size", "11");
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + new XMLSerializer().serializeToString(copy);
  }

  function attachZoom(root, box, model, g) {
    var start = null;
    function local(ev) {
      var r = root.getBoundingClientRect();
      return {x: (ev.clientX - r.left) * g.W / r.width, y: (ev.clientY - r.top) * g.H / r.height};
    }
    function data(p) {
      var xv = g.x0 + (p.x - g.L) / (g.W - g.L - g.R) * (g.x1 - g.x0);
      return {x: g.logx ? Math.pow(10, xv) : xv, y: g.y0 + (g.H - g.B - p.y) / (g.H - g.T - g.B) * (g.y1 - g.y0)};
    }
    root.addEventListener("mousedown", function (ev) {
      var p = local(ev);
      if (p.x < g.L || p.x > g.W - g.R || p.y < g.T || p.y > g.H - g.B) { return; }
      start = p; ev.preventDefault();
    });
    root.addEventListener("mousemove", function (ev) {
      if (!start) { return; }
      var p = local(ev);
      box.setAttribute("x", Math.min(start.x, p.x)); box.setAttribute("y", Math.min(start.y, p.y));
      box.setAttribute("width", Math.abs(p.x - start.x)); box.setAttribute("height", Math.abs(p.y - start.y));
      box.setAttribute("visibility", "visible");
    });
    root.addEventListener("mouseup", function (ev) {
      if (!start) { return; }
      var p = local(ev), s = start;
      start = null; box.setAttribute("visibility", "hidden");
      if (Math.abs(p.x - s.x) < 6 || Math.abs(p.y - s.y) < 6) {
        var hit = ev.target.closest && ev.target.closest(".point");
        if (hit) { toggleCompare(hit.getAttribute("data-sae")); }
        return;
      }
      var a = data(s), b = data(p);
      state.zoom[model] = [Math.min(a.x, b.x), Math.max(a.x, b.x), Math.min(a.y, b.y), Math.max(a.y, b.y)];
      update();
    });
    root.addEventListener("mouseleave", function () { start = null; box.setAttribute("visibility", "hidden"); });
    root.addEventListener("dblclick", function () { delete state.zoom[model]; update(); });
  }

  // ---- hover ------------------------------------------------------------------------------------------------
  var tip = document.getElementById("tooltip");
  function showTip(ev, sae) {
    tip.textContent = "";
    tip.appendChild(el("b", {"class": "tip-id"}, sae.id));
    var lines = [sae.model + " · " + sae.hook, sae.architecture + " · width " + (sae.width === null ? "?" : sae.width)];
    [state.x, state.y].forEach(function (k) {
      var v = value(sae, k), se = stderr(sae, k);
      lines.push(colLabel(k) + ": " + (isNum(v) ? fmt(v) + (isNum(se) ? " ± " + fmtSe(se) : "") : "—") +
                 (floorOf(sae, k) ? " (noise floor σ " + fmtSe(floorOf(sae, k)) + ")" : ""));
    });
    if (sae.baseline) { lines.push("baseline"); }
    lines.forEach(function (l) { tip.appendChild(el("div", {}, l)); });
    tip.hidden = false;
    tip.style.left = (ev.pageX + 14) + "px"; tip.style.top = (ev.pageY + 14) + "px";
  }
  document.getElementById("plots").addEventListener("mousemove", function (ev) {
    var t = ev.target.closest ? ev.target.closest("[data-sae]") : null;
    if (t && byId[t.getAttribute("data-sae")]) { showTip(ev, byId[t.getAttribute("data-sae")]); } else { tip.hidden = true; }
  });
  document.getElementById("plots").addEventListener("mouseleave", function () { tip.hidden = true; });
  document.getElementById("plots").addEventListener("focusin", function (ev) {
    var id = ev.target.getAttribute && ev.target.getAttribute("data-sae");
    if (!id || !byId[id]) { return; }
    var r = ev.target.getBoundingClientRect();
    showTip({pageX: r.right + window.scrollX, pageY: r.bottom + window.scrollY}, byId[id]);
  });
  document.getElementById("plots").addEventListener("focusout", function () { tip.hidden = true; });
  document.getElementById("plots").addEventListener("keydown", function (ev) {
    var id = ev.target.getAttribute && ev.target.getAttribute("data-sae");
    if (id && byId[id] && (ev.key === "Enter" || ev.key === " ")) { ev.preventDefault(); toggleCompare(id); }
  });

  // ---- wiring -----------------------------------------------------------------------------------------------
  function update() {
    matching = SAES.filter(passes);
    renderTable(); renderCompare(); renderPlots(); syncControls(); writeUrl();
  }
  document.getElementById("more").addEventListener("click", function () { shownRows += PAGE; renderTable(); });
  document.getElementById("compare-clear").addEventListener("click", function () { state.cmp = []; update(); });
  document.getElementById("share").addEventListener("click", function () {
    var url = location.href, done = function () { document.getElementById("share").textContent = "Link copied"; };
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(url).then(done, function () { window.prompt("Copy this link", url); });
    } else { window.prompt("Copy this link", url); }
  });
  // The shown SAEs (filters and sort applied; every column, not only the visible ones) as CSV (RFC 4180).
  function csvText() {
    function q(v) {
      var t = v === null || v === undefined ? "" : String(v);
      return /[",\r\n]/.test(t) ? '"' + t.replace(/"/g, '""') + '"' : t;
    }
    var head = ["sae_id", "model", "hook", "architecture", "width", "l0"];
    COLS.forEach(function (c) { head.push(c.key, c.key + ":stderr"); });
    var lines = [head.map(q).join(",")];
    sorted(matching).forEach(function (sae) {
      var row = [sae.id, sae.model, sae.hook, sae.architecture, sae.width, sae.l0];
      COLS.forEach(function (c) { row.push(value(sae, c.key), stderr(sae, c.key)); });
      lines.push(row.map(q).join(","));
    });
    return lines.join("\r\n") + "\r\n";
  }
  document.getElementById("download-csv").addEventListener("click", function () {
    download(csvText(), "text/csv", "saebench_leaderboard.csv");
  });
  window.addEventListener("hashchange", function () { state = readUrl(); shownRows = PAGE; syncControls(); update(); });
  state = readUrl();
  buildFilters(); buildColumnChooser(); buildPlotControls(); syncControls();
  update();
  document.body.setAttribute("data-ready", "1");
}());

/* svcprep report: sortable, filterable, paginated tables over JSON data blocks.
   Data is only ever written with textContent; nothing from the data is parsed as HTML. */
(function () {
  "use strict";

  function readJSON(id) {
    var el = document.getElementById(id);
    return el ? JSON.parse(el.textContent) : null;
  }

  function fmt(value, type) {
    if (value === null || value === undefined || value === "") { return "–"; }
    if (type === "num") {
      var a = Math.abs(value);
      if (a !== 0 && (a < 0.01 || a >= 1e5)) { return value.toExponential(2); }
      return (Math.round(value * 1000) / 1000).toString();
    }
    if (type === "sec") { return value.toFixed(2); }
    return String(value);
  }

  var collator = new Intl.Collator(undefined, { numeric: true });

  function compare(a, b, type) {
    var an = a === null || a === undefined || a === "";
    var bn = b === null || b === undefined || b === "";
    if (an || bn) { return an === bn ? 0 : (an ? 1 : -1); }
    if (type === "num" || type === "sec") { return a - b; }
    return collator.compare(String(a), String(b));
  }

  function DataTable(root, spec, media) {
    this.root = root;
    this.columns = spec.columns;
    this.rows = spec.rows;
    this.media = media || {};
    this.sortCol = -1;
    this.sortDir = 1;
    this.page = 0;
    this.pageSize = 50;
    this.filters = {};
    this.query = [];
    this.view = this.rows.slice();
    var textCols = [];
    this.columns.forEach(function (c, i) { if (c.type === "text") { textCols.push(i); } });
    // the lower-cased text a filter searches, made once per row
    this.hay = this.rows.map(function (r) {
      return textCols.map(function (i) { return r[i] === null ? "" : String(r[i]); }).join(" ").toLowerCase();
    });
    this.build();
    this.apply();
  }

  DataTable.prototype.colIndex = function (key) {
    for (var i = 0; i < this.columns.length; i++) {
      if (this.columns[i].key === key) { return i; }
    }
    return -1;
  };

  DataTable.prototype.build = function () {
    var self = this;
    var controls = document.createElement("div");
    controls.className = "controls";
    var search = document.createElement("input");
    search.type = "search";
    search.placeholder = "filter: item, speaker, reason …";
    search.className = "filter-text";
    search.setAttribute("aria-label", "filter rows");
    search.addEventListener("input", function () {
      self.query = search.value.toLowerCase().split(/\s+/).filter(Boolean);
      self.page = 0;
      self.apply();
    });
    controls.appendChild(search);
    this.selects = {};
    this.columns.forEach(function (col, ci) {
      if (!col.facet) { return; }
      var values = {};
      self.rows.forEach(function (r) { values[r[ci]] = (values[r[ci]] || 0) + 1; });
      var sel = document.createElement("select");
      sel.className = "filter-" + col.key;
      sel.setAttribute("aria-label", "filter by " + col.label);
      var all = document.createElement("option");
      all.value = "";
      all.textContent = "every " + col.label;
      sel.appendChild(all);
      Object.keys(values).sort().forEach(function (v) {
        var o = document.createElement("option");
        o.value = v;
        o.textContent = v + " (" + values[v] + ")";
        sel.appendChild(o);
      });
      sel.addEventListener("change", function () {
        self.filters[ci] = sel.value;
        self.page = 0;
        self.apply();
      });
      self.selects[col.key] = sel;
      controls.appendChild(sel);
    });
    this.count = document.createElement("span");
    this.count.className = "count";
    controls.appendChild(this.count);
    this.root.appendChild(controls);

    var wrap = document.createElement("div");
    wrap.className = "table-wrap";
    var table = document.createElement("table");
    table.className = "data";
    var thead = document.createElement("thead");
    var tr = document.createElement("tr");
    this.headers = [];
    this.columns.forEach(function (col, ci) {
      var th = document.createElement("th");
      th.setAttribute("aria-sort", "none");
      th.dataset.key = col.key;
      var b = document.createElement("button");
      b.type = "button";
      b.textContent = col.label;
      b.title = "sort by " + col.label;
      b.addEventListener("click", function () { self.sortBy(ci); });
      th.appendChild(b);
      if (col.type === "num" || col.type === "sec") { th.className = "num"; }
      tr.appendChild(th);
      self.headers.push(th);
    });
    thead.appendChild(tr);
    table.appendChild(thead);
    this.tbody = document.createElement("tbody");
    table.appendChild(this.tbody);
    wrap.appendChild(table);
    this.root.appendChild(wrap);

    var pager = document.createElement("div");
    pager.className = "pager";
    this.prev = document.createElement("button");
    this.prev.type = "button";
    this.prev.className = "prev";
    this.prev.textContent = "‹ previous";
    this.prev.addEventListener("click", function () { self.page -= 1; self.render(); });
    this.next = document.createElement("button");
    this.next.type = "button";
    this.next.className = "next";
    this.next.textContent = "next ›";
    this.next.addEventListener("click", function () { self.page += 1; self.render(); });
    this.pageLabel = document.createElement("span");
    this.pageLabel.className = "page";
    var size = document.createElement("select");
    size.className = "page-size";
    size.setAttribute("aria-label", "rows per page");
    [25, 50, 100, 500].forEach(function (n) {
      var o = document.createElement("option");
      o.value = String(n);
      o.textContent = n + " rows";
      if (n === self.pageSize) { o.selected = true; }
      size.appendChild(o);
    });
    size.addEventListener("change", function () {
      self.pageSize = parseInt(size.value, 10);
      self.page = 0;
      self.render();
    });
    pager.appendChild(this.prev);
    pager.appendChild(this.pageLabel);
    pager.appendChild(this.next);
    pager.appendChild(size);
    this.root.appendChild(pager);
  };

  DataTable.prototype.setFilter = function (key, value) {
    var ci = this.colIndex(key);
    var sel = this.selects[key];
    if (ci < 0 || !sel) { return; }
    sel.value = value;
    this.filters[ci] = sel.value;
    this.page = 0;
    this.apply();
  };

  DataTable.prototype.sortBy = function (ci) {
    if (this.sortCol === ci) { this.sortDir = -this.sortDir; } else { this.sortCol = ci; this.sortDir = 1; }
    this.page = 0;
    var self = this;
    this.headers.forEach(function (th, i) {
      th.setAttribute("aria-sort", i === ci ? (self.sortDir > 0 ? "ascending" : "descending") : "none");
    });
    this.apply();
  };

  DataTable.prototype.apply = function () {
    var self = this;
    var q = this.query;
    var view = [];
    this.rows.forEach(function (r, k) {
      for (var ci in self.filters) {
        if (self.filters[ci] !== "" && String(r[ci]) !== self.filters[ci]) { return; }
      }
      var hay = self.hay[k];
      if (q.every(function (t) { return hay.indexOf(t) >= 0; })) { view.push(r); }
    });
    this.view = view;
    if (this.sortCol >= 0) {
      var ci = this.sortCol, dir = this.sortDir, type = this.columns[ci].type;
      var indexed = this.view.map(function (r, i) { return [r, i]; });
      indexed.sort(function (a, b) {
        var c = compare(a[0][ci], b[0][ci], type);
        if (c === 0) { return a[1] - b[1]; }
        var nullA = a[0][ci] === null || a[0][ci] === "", nullB = b[0][ci] === null || b[0][ci] === "";
        return nullA || nullB ? c : c * dir;
      });
      this.view = indexed.map(function (p) { return p[0]; });
    }
    this.render();
  };

  DataTable.prototype.render = function () {
    var pages = Math.max(1, Math.ceil(this.view.length / this.pageSize));
    this.page = Math.min(Math.max(0, this.page), pages - 1);
    var start = this.page * this.pageSize;
    var slice = this.view.slice(start, start + this.pageSize);
    var frag = document.createDocumentFragment();
    var self = this;
    slice.forEach(function (r) {
      var tr = document.createElement("tr");
      self.columns.forEach(function (col, ci) {
        var td = document.createElement("td");
        var text = fmt(r[ci], col.type);
        var anchor = col.key === "id" ? self.media[r[ci]] : null;
        if (anchor && /^m[0-9]+$/.test(anchor)) {
          var a = document.createElement("a");
          a.href = "#" + anchor;
          a.textContent = text;
          a.title = "see and hear this item";
          td.appendChild(a);
        } else {
          td.textContent = text;
        }
        if (col.type === "num" || col.type === "sec") { td.className = "num"; }
        else if (col.facet) { td.className = "nowrap"; }
        tr.appendChild(td);
      });
      frag.appendChild(tr);
    });
    this.tbody.textContent = "";
    this.tbody.appendChild(frag);
    this.count.textContent = this.view.length === this.rows.length
      ? this.rows.length + " rows"
      : this.view.length + " of " + this.rows.length + " rows";
    this.pageLabel.textContent = this.view.length
      ? "rows " + (start + 1) + "–" + (start + slice.length) + " · page " + (this.page + 1) + " of " + pages
      : "no rows match";
    this.prev.disabled = this.page === 0;
    this.next.disabled = this.page >= pages - 1;
  };

  var media = readJSON("data-media") || {};
  var tables = {};
  Array.prototype.forEach.call(document.querySelectorAll("[data-table]"), function (root) {
    var spec = readJSON(root.getAttribute("data-table"));
    if (spec) { tables[root.id] = new DataTable(root, spec, media); }
  });
  Array.prototype.forEach.call(document.querySelectorAll("button[data-show-flag]"), function (b) {
    b.addEventListener("click", function () {
      var t = tables["flagged-table"];
      if (!t) { return; }
      t.setFilter("flag", b.getAttribute("data-show-flag"));
      t.root.scrollIntoView({ block: "start" });
    });
  });
  window.svcprepReport = { tables: tables };
})();

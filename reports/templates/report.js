(function () {
  "use strict";
  // Renders the repository x policy matrix (paged, sortable, filterable), the panel of one
  // repository and the view of one policy from the JSON in #report-data (its layout is
  // described in governance/render/html.py). Scan data only ever reaches the page through
  // textContent and setAttribute of plain attributes: never as markup.
  var source = document.getElementById("report-data");
  var grid = document.getElementById("grid");
  if (!source || !grid || !window.JSON || !document.querySelector) { return; }
  var D = JSON.parse(source.textContent);
  var OUT = D.outcomes, SEV = D.severities, P = D.policies, R = D.repos, F = D.findings;
  var S = D.strings, PROSE = D.prose, W = D.waivers;
  var CONF = ["low", "medium", "high"];
  var ATTENTION = { fail: 0, error: 1, not_available: 2, waived: 3, not_applicable: 4, pass: 5 };
  var PROBLEMS = { fail: true, error: true, not_available: true };
  var FIXED = 4; // repository, compliance, failing, worst; then one column per policy
  var collator = window.Intl ? new Intl.Collator(undefined, { numeric: true }) : null;

  var form = document.getElementById("filters");
  var status = document.getElementById("status");
  var pagers = document.querySelectorAll("nav.pager");
  var detail = document.getElementById("detail");
  var byName = {};
  R.forEach(function (r, i) { byName[r[0]] = i; });
  var byPolicy = {};
  P.forEach(function (p, c) { byPolicy[p.id] = c; });

  var state = { outcome: "", severity: -1, policy: -1, org: "", words: [], sort: "rank",
                dir: 1, page: 0, size: 100 };
  var order = [];
  var cellCache = [];
  var textCache = [];

  // --- small helpers ---------------------------------------------------------------------
  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }
  function add(parent) {
    for (var k = 1; k < arguments.length; k++) {
      var child = arguments[k];
      if (child === null || child === undefined) { continue; }
      parent.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return parent;
  }
  function repoHref(name) { return "#repo=" + encodeURIComponent(name); }
  function percent(v) { return v === null ? "n/a" : v.toFixed(1) + "%"; }
  function band(v) { return v === null ? "muted" : v >= 90 ? "good" : v >= 60 ? "fair" : "poor"; }
  function number(n) { return n.toLocaleString ? n.toLocaleString("en") : String(n); }
  function outcomeOf(code) { return OUT[code] || ["unknown", "o-none", "?", "unknown"]; }
  function badge(code) {
    var o = outcomeOf(code);
    return el("span", "b " + o[1], o[2] + " " + o[3]);
  }
  function sevBadge(severity) { return el("span", "sev s-" + severity, severity); }
  function prose(index) {
    var span = el("span");
    (index >= 0 && PROSE[index] ? PROSE[index] : []).forEach(function (seg) {
      if (seg[0] === 1) {
        add(span, el("code", null, seg[1]));
      } else if (seg[0] === 2 && /^https?:\/\//i.test(seg[1])) {
        var a = el("a", null, seg[1]);
        a.setAttribute("href", seg[1]);
        a.setAttribute("rel", "noopener noreferrer");
        add(span, a);
      } else {
        add(span, seg[1]);
      }
    });
    return span;
  }
  function finding(row) {
    return {
      policy: row[0], outcome: row[1], message: S[row[2]] || "", locations: row[3] || [],
      fix: row.length > 4 ? row[4] : -1,
      severity: row.length > 5 && row[5] >= 0 ? SEV[row[5]] : (P[row[0]] || {}).severity,
      confidence: row.length > 6 && row[6] >= 0 ? CONF[row[6]] : "high",
      waiver: row.length > 7 ? row[7] : -1
    };
  }
  function where(loc) {
    return S[loc[0]] + (loc[1] === null || loc[1] === undefined ? "" : ":" + loc[1]);
  }
  function cells(i) {
    var found = cellCache[i];
    if (found) { return found; }
    found = [];
    for (var c = 0; c < P.length; c++) { found.push(-1); }
    F[i].forEach(function (row, k) { if (found[row[0]] < 0) { found[row[0]] = k; } });
    cellCache[i] = found;
    return found;
  }
  function texts(i) { // one lower-case text per finding: repository, message, locations
    var found = textCache[i];
    if (found) { return found; }
    var name = R[i][0].toLowerCase();
    found = F[i].map(function (row) {
      var f = finding(row);
      var parts = [name, f.message, (P[f.policy] || {}).id || ""];
      f.locations.forEach(function (loc) { parts.push(where(loc), S[loc[2]] || ""); });
      return parts.join("\n").toLowerCase();
    });
    textCache[i] = found;
    return found;
  }

  // --- filtering, sorting, paging --------------------------------------------------------
  function active() {
    return Boolean(state.outcome || state.severity >= 0 || state.policy >= 0 ||
                   state.words.length || state.org);
  }
  function keep(i) {
    if (!active()) { return true; }
    // The org of "org/repo" or "group/sub/project" is its first segment (as org_of says).
    if (state.org && R[i][0].split("/")[0] !== state.org) { return false; }
    var rows = F[i];
    for (var k = 0; k < rows.length; k++) {
      var f = finding(rows[k]);
      var key = outcomeOf(f.outcome)[0];
      if (state.outcome && (state.outcome === "problems" ? !PROBLEMS[key]
                                                         : key !== state.outcome)) { continue; }
      if (state.severity >= 0 && SEV.indexOf(f.severity) < state.severity) { continue; }
      if (state.policy >= 0 && f.policy !== state.policy) { continue; }
      if (state.words.length) {
        var text = texts(i)[k];
        if (!state.words.every(function (w) { return text.indexOf(w) !== -1; })) { continue; }
      }
      return true;
    }
    return false;
  }
  function sortKey(i) {
    var r = R[i];
    switch (state.sort) {
      case "compliance": return r[1] === null ? 101 : r[1];
      case "failing": return r[2];
      case "worst": return r[3];
      case "name": return 0;
      default:
        if (state.sort.charAt(0) === "p") {
          var k = cells(i)[Number(state.sort.slice(1))];
          return k < 0 ? 9 : ATTENTION[outcomeOf(F[i][k][1])[0]];
        }
        return i;
    }
  }
  function refilter() {
    order = [];
    for (var i = 0; i < R.length; i++) { if (keep(i)) { order.push(i); } }
    var dir = state.dir;
    if (state.sort === "name") {
      order.sort(function (a, b) {
        var d = collator ? collator.compare(R[a][0], R[b][0])
                         : (R[a][0] < R[b][0] ? -1 : R[a][0] > R[b][0] ? 1 : 0);
        return d * dir || a - b;
      });
    } else if (state.sort !== "rank" || dir !== 1) {
      var keys = {};
      order.forEach(function (i) { keys[i] = sortKey(i); });
      order.sort(function (a, b) { return (keys[a] - keys[b]) * dir || a - b; });
    }
  }
  function pages() { return Math.max(1, Math.ceil(order.length / state.size)); }

  // --- the matrix ------------------------------------------------------------------------
  var HEADINGS = [["name", "Repository", 1], ["compliance", "Compliance", 1],
                  ["failing", "Failing", -1], ["worst", "Worst", -1]];
  function header() {
    var tr = el("tr");
    HEADINGS.concat(P.map(function (p, c) { return ["p" + c, p.id, 1, p]; })).forEach(
      function (h, n) {
        var th = el("th", n === 0 ? null : n < FIXED - 1 ? "n" : n >= FIXED ? "pc" : null);
        th.setAttribute("scope", "col");
        var sorted = state.sort === h[0];
        var shown = sorted && state.sort !== "rank";
        th.setAttribute("aria-sort", !shown ? "none"
                        : state.dir === 1 ? "ascending" : "descending");
        var button = el("button", "sort");
        button.setAttribute("type", "button");
        button.setAttribute("data-sort", h[0]);
        if (h[3]) {
          th.setAttribute("title", h[3].title + " (" + h[3].severity + ")");
          add(button, el("span", null, h[1]));
          button.setAttribute("aria-label", "Sort by " + h[3].title);
        } else {
          add(button, h[1]);
        }
        add(button, el("span", "arrow", !shown ? "" : state.dir === 1 ? " \u25b2" : " \u25bc"));
        add(th, button);
        add(tr, th);
      });
    var thead = el("thead");
    add(thead, tr);
    grid.replaceChild(thead, grid.tHead);
  }
  function row(i) {
    var r = R[i];
    var tr = el("tr");
    tr.setAttribute("data-r", String(i));
    var th = el("th");
    th.setAttribute("scope", "row");
    var a = el("a", null, r[0]);
    a.setAttribute("href", repoHref(r[0]));
    a.setAttribute("title", r[0]);
    add(tr, add(th, a));
    add(tr, add(el("td", "n"), el("span", band(r[1]), percent(r[1]))));
    add(tr, el("td", r[2] ? "n" : "n z", r[2]));
    add(tr, add(el("td"), r[3] >= 0 ? sevBadge(SEV[r[3]]) : el("span", "muted", "\u2014")));
    var mine = cells(i);
    for (var c = 0; c < P.length; c++) {
      var k = mine[c];
      var o = k < 0 ? ["none", "o-none", "\u00b7", "no finding"] : outcomeOf(F[i][k][1]);
      var td = el("td", "c " + o[1]);
      td.setAttribute("title", P[c].id + ": " + o[3] +
                      (k < 0 ? "" : " \u2014 " + (S[F[i][k][2]] || "")));
      var sym = el("span", null, o[2]);
      sym.setAttribute("aria-hidden", "true");
      add(td, sym, el("span", "sr", o[3]));
      add(tr, td);
    }
    return tr;
  }
  function pageButton(label, page, text) {
    var b = el("button", null, text);
    b.setAttribute("type", "button");
    b.setAttribute("aria-label", label);
    b.setAttribute("data-page", String(page));
    b.disabled = page < 0 || page >= pages() || page === state.page;
    return b;
  }
  function render() {
    var start = state.page * state.size;
    var end = Math.min(order.length, start + state.size);
    var body = el("tbody");
    for (var k = start; k < end; k++) { add(body, row(order[k])); }
    grid.replaceChild(body, grid.tBodies[0]);
    header();
    var total = number(R.length);
    status.textContent = order.length === 0
      ? "No repository matches the filters (" + total + " in all)."
      : "Showing " + number(start + 1) + "\u2013" + number(end) + " of " +
        number(order.length) + (active() ? " matching repositories (" + total + " in all)"
                                         : " repositories") +
        ", page " + (state.page + 1) + " of " + pages() + ".";
    Array.prototype.forEach.call(pagers, function (nav) {
      nav.textContent = "";
      add(nav, pageButton("First page", 0, "\u00ab First"),
          pageButton("Previous page", state.page - 1, "\u2039 Previous"),
          el("span", "pageinfo", "Page " + (state.page + 1) + " of " + pages()),
          pageButton("Next page", state.page + 1, "Next \u203a"),
          pageButton("Last page", pages() - 1, "Last \u00bb"));
      nav.hidden = pages() <= 1;
    });
  }
  function update(keepPage) {
    refilter();
    if (!keepPage) { state.page = 0; }
    state.page = Math.min(state.page, pages() - 1);
    render();
  }

  grid.addEventListener("click", function (event) {
    var target = event.target;
    var button = target.closest && target.closest("button.sort");
    if (button) {
      var key = button.getAttribute("data-sort");
      var heading = HEADINGS.filter(function (h) { return h[0] === key; })[0];
      var natural = heading ? heading[2] : 1;
      if (state.sort === key) {
        state.dir = -state.dir;
      } else {
        state.sort = key;
        state.dir = natural;
      }
      update(false);
      var again = grid.querySelector('button[data-sort="' + key + '"]');
      if (again) { again.focus(); }
      return;
    }
    var cell = target.closest && target.closest("td.c");
    var tr = target.closest && target.closest("tr[data-r]");
    if (cell && tr) {
      var i = Number(tr.getAttribute("data-r"));
      var column = cell.cellIndex - FIXED;
      window.location.hash = repoHref(R[i][0]).slice(1) +
        (P[column] ? "&p=" + encodeURIComponent(P[column].id) : "");
    }
  });
  Array.prototype.forEach.call(pagers, function (nav) {
    nav.addEventListener("click", function (event) {
      var b = event.target.closest && event.target.closest("button[data-page]");
      if (!b || b.disabled) { return; }
      state.page = Number(b.getAttribute("data-page"));
      render();
      var same = nav.querySelector('button[data-page="' + b.getAttribute("data-page") + '"]');
      var first = grid.querySelector("tbody a");
      if (same && !same.disabled) { same.focus(); } else if (first) { first.focus(); }
    });
  });

  // --- filters ---------------------------------------------------------------------------
  var fields = form.elements;
  function readForm() {
    state.outcome = fields.outcome.value;
    state.severity = fields.severity.value ? SEV.indexOf(fields.severity.value) : -1;
    state.policy = fields.policy.value && byPolicy.hasOwnProperty(fields.policy.value)
      ? byPolicy[fields.policy.value] : -1;
    state.words = fields.q.value.toLowerCase().split(/\s+/).filter(Boolean);
    state.org = fields.org ? fields.org.value : ""; // the select exists for several orgs
    state.size = Number(fields.size.value) || 100;
    update(false);
  }
  var timer = null;
  form.addEventListener("input", function () {
    window.clearTimeout(timer);
    timer = window.setTimeout(readForm, 150);
  });
  form.addEventListener("change", readForm);
  form.addEventListener("reset", function () {
    state.sort = "rank"; // Clear also goes back to worst first
    state.dir = 1;
    window.setTimeout(readForm, 0);
  });
  form.addEventListener("submit", function (event) { event.preventDefault(); readForm(); });

  // --- the panel of one repository and the view of one policy ----------------------------
  var opener = null; // what had the focus in the matrix when a panel opened
  function close() {
    detail.hidden = true;
    detail.textContent = "";
    if (opener && document.body.contains(opener)) { opener.focus(); }
    opener = null;
  }
  function heading(text, extra) {
    var h = add(el("h2", null, text), extra || null);
    h.setAttribute("tabindex", "-1");
    h.id = "detail-h";
    return h;
  }
  function backLink() {
    var a = el("a", "back no-print", "\u2190 Back to the repositories");
    a.setAttribute("href", "#matrix");
    return a;
  }
  function show(focusTarget) {
    var current = document.activeElement;
    if (current && grid.contains(current)) { opener = current; }
    detail.hidden = false;
    detail.setAttribute("aria-labelledby", "detail-h");
    detail.scrollIntoView({ block: "start" });
    var target = focusTarget || detail;
    target.focus({ preventScroll: true });
    if (target !== detail && target.scrollIntoView && target.tagName === "LI") {
      target.scrollIntoView({ block: "nearest" });
    }
  }
  function countsList(counts) {
    var ul = el("ul", "counts");
    ul.setAttribute("aria-label", "Findings per outcome");
    counts.forEach(function (n, code) {
      if (n) { add(ul, add(el("li"), badge(code), ": " + n)); }
    });
    return ul;
  }
  function showRepository(i, policyId) {
    var r = R[i];
    detail.textContent = "";
    var h = heading("Repository ", el("span", "rn", r[0]));
    var line = el("p", null, percent(r[1]) + " compliant \u00b7 " + r[2] + " failing");
    add(detail, backLink(), h, line, countsList(r[4]));
    var list = el("ul", "fl");
    var focus = null;
    F[i].map(function (rowData, k) { return { f: finding(rowData), k: k }; })
      .sort(function (a, b) {
        var oa = ATTENTION[outcomeOf(a.f.outcome)[0]], ob = ATTENTION[outcomeOf(b.f.outcome)[0]];
        return (oa - ob) || (SEV.indexOf(b.f.severity) - SEV.indexOf(a.f.severity)) ||
          (a.f.policy - b.f.policy) || (a.k - b.k);
      })
      .forEach(function (item) {
        var f = item.f;
        var p = P[f.policy] || { id: "?", title: "?", why: -1, fix: -1 };
        var key = outcomeOf(f.outcome)[0];
        var li = el("li", key === "pass" || key === "not_applicable" ? "q" : null);
        li.setAttribute("data-o", key);
        li.setAttribute("data-p", p.id);
        var link = el("a", null, p.title);
        link.setAttribute("href", "#policy=" + encodeURIComponent(p.id));
        add(li, badge(f.outcome), " ", sevBadge(f.severity), " ", link, ": ",
            el("span", "msg", f.message));
        if (f.confidence !== "high") { add(li, " ", el("i", null, "(" + f.confidence +
                                                            " confidence)")); }
        if (f.locations.length) {
          var locs = el("ul", "locs");
          f.locations.forEach(function (loc) {
            add(locs, add(el("li"), el("code", null, where(loc)),
                          S[loc[2]] ? " " : null, S[loc[2]] ? el("i", null, S[loc[2]]) : null));
          });
          add(li, locs);
        }
        var fix = f.fix >= 0 ? f.fix : key === "fail" ? p.fix : -1; // else the policy's
        if (fix >= 0) { add(li, add(el("p", "fix"), el("b", null, "How to fix: "), prose(fix))); }
        if (f.waiver >= 0 && W[f.waiver]) {
          var w = W[f.waiver];
          add(li, add(el("p", "wvr"), el("b", null, "Waived"), " by " + w[0] +
                      (w[2] ? " until " + w[2] : " (no expiry)") + ": " + w[1] +
                      " (waiver for " + w[3] + " \u00b7 " + w[4] + ")"));
        }
        if (key !== "pass" && p.why >= 0) {
          var why = el("details");
          add(why, el("summary", null, "Why this policy"), add(el("p"), prose(p.why)));
          add(li, why);
        }
        if (policyId && p.id === policyId && !focus) {
          li.className += " target";
          li.setAttribute("tabindex", "-1");
          focus = li;
        }
        add(list, li);
      });
    add(detail, list);
    show(focus || h);
  }

  var POLICY_STEP = 100;
  function policyList(c, key, limit) {
    var found = [];
    for (var n = 0; n < R.length; n++) {
      var k = cells(n)[c];
      if (k >= 0 && outcomeOf(F[n][k][1])[0] === key) { found.push([n, k]); }
    }
    var wrap = el("div");
    var list = el("ul", "fl");
    found.slice(0, limit).forEach(function (pair) {
      var f = finding(F[pair[0]][pair[1]]);
      var a = el("a", null, R[pair[0]][0]);
      a.setAttribute("href", repoHref(R[pair[0]][0]));
      var li = add(el("li"), a, ": ", el("span", "msg", f.message));
      if (f.locations.length) { add(li, " ", el("code", null, where(f.locations[0]))); }
      add(list, li);
    });
    add(wrap, list);
    if (found.length > limit) {
      var more = el("button", "more no-print", "Show " + Math.min(POLICY_STEP,
                    found.length - limit) + " more of " + number(found.length - limit));
      more.setAttribute("type", "button");
      more.addEventListener("click", function () {
        var next = policyList(c, key, limit + POLICY_STEP);
        wrap.parentNode.replaceChild(next.node, wrap);
        var items = next.node.querySelectorAll("ul.fl > li a");
        if (items[limit]) { items[limit].focus(); }
      });
      add(wrap, more);
    }
    return { node: wrap, total: found.length };
  }
  function showPolicy(c) {
    var p = P[c];
    detail.textContent = "";
    var h = heading("Policy ", add(el("span"), el("strong", null, p.title), " ",
                                   el("code", "muted", p.id)));
    add(detail, backLink(), h,
        add(el("p"), sevBadge(p.severity), " " + percent(p.compliance) + " compliant"),
        countsList(p.counts));
    if (p.why >= 0) { add(detail, add(el("p"), el("b", null, "Why: "), prose(p.why))); }
    if (p.fix >= 0) { add(detail, add(el("p"), el("b", null, "How to fix: "), prose(p.fix))); }
    [["fail", "Failing repositories"], ["error", "Repositories where it could not run"]]
      .forEach(function (pair) {
        var part = policyList(c, pair[0], POLICY_STEP);
        if (!part.total && pair[0] !== "fail") { return; }
        add(detail, el("h3", null, pair[1] + " (" + number(part.total) + ")"),
            part.total ? part.node : el("p", null, "None."));
      });
    show(h);
  }

  function route() {
    var hash = window.location.hash.slice(1);
    var match;
    try {
      if ((match = /^repo=([^&]*)(?:&p=(.*))?$/.exec(hash))) {
        var name = decodeURIComponent(match[1]);
        if (byName.hasOwnProperty(name)) {
          showRepository(byName[name], match[2] ? decodeURIComponent(match[2]) : null);
          return;
        }
      } else if ((match = /^policy=(.*)$/.exec(hash))) {
        var id = decodeURIComponent(match[1]);
        if (byPolicy.hasOwnProperty(id)) { showPolicy(byPolicy[id]); return; }
      }
    } catch (error) { /* a malformed link: show the report */ }
    if (!detail.hidden) { close(); }
  }
  detail.addEventListener("keydown", function (event) {
    if (event.key === "Escape") { window.location.hash = "matrix"; }
  });
  window.addEventListener("hashchange", route);

  form.hidden = false;
  document.documentElement.className += " js";
  readForm();
  route();
  if (window.performance && performance.mark) { performance.mark("report-rendered"); }
})();

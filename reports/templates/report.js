(function () {
  "use strict";
  // Client-side filtering of the findings, the repository table and the matrix. The
  // report works without this script: every finding is listed and every link works.
  var form = document.getElementById("filters");
  if (!form || !document.querySelectorAll) { return; }
  var RANK = { info: 0, low: 1, medium: 2, high: 3, critical: 4 };
  var PROBLEMS = { fail: true, error: true, not_available: true };
  var each = function (list, fn) { Array.prototype.forEach.call(list, fn); };
  var entries = [];
  var sections = document.querySelectorAll("section.repo[data-r]");
  each(sections, function (section) {
    var label = section.querySelector(".rn");
    var name = label ? label.textContent.toLowerCase() : "";
    each(section.querySelectorAll("li[data-o]"), function (li) {
      var severity = li.getAttribute("data-s");
      entries.push({
        el: li,
        repo: section.getAttribute("data-r"),
        outcome: li.getAttribute("data-o"),
        rank: RANK.hasOwnProperty(severity) ? RANK[severity] : -1,
        policy: li.getAttribute("data-p"),
        text: name + "\n" + li.textContent.toLowerCase()
      });
    });
  });
  var rows = document.querySelectorAll("tr[data-r]");
  var shown = document.getElementById("shown");
  var fields = form.elements;

  function apply() {
    var outcome = fields.outcome.value;
    var minimum = fields.severity.value ? RANK[fields.severity.value] : -1;
    var policy = fields.policy.value;
    var words = fields.q.value.toLowerCase().split(/\s+/).filter(Boolean);
    var active = Boolean(outcome || policy || words.length || minimum >= 0);
    var visible = {};
    var count = 0;
    entries.forEach(function (e) {
      var ok = (!outcome || (outcome === "problems" ? PROBLEMS[e.outcome] === true
                                                    : e.outcome === outcome)) &&
        e.rank >= minimum && (!policy || e.policy === policy) &&
        words.every(function (w) { return e.text.indexOf(w) !== -1; });
      e.el.hidden = !ok;
      if (ok) { count += 1; visible[e.repo] = true; }
    });
    each(sections, function (s) { s.hidden = !visible[s.getAttribute("data-r")]; });
    each(rows, function (r) { r.hidden = !visible[r.getAttribute("data-r")]; });
    var repos = Object.keys(visible).length;
    shown.textContent = active
      ? "Showing " + count + " of " + entries.length + " findings in " + repos + " " +
        (repos === 1 ? "repository" : "repositories")
      : entries.length + " findings";
  }

  var timer = null;
  form.addEventListener("input", function () {
    window.clearTimeout(timer);
    timer = window.setTimeout(apply, 120);
  });
  form.addEventListener("change", apply);
  form.addEventListener("reset", function () { window.setTimeout(apply, 0); });
  form.addEventListener("submit", function (event) { event.preventDefault(); apply(); });

  // Following a link to a finding the filters hide: clear the filters first.
  function reveal() {
    var id = window.location.hash.slice(1);
    var target = id ? document.getElementById(id) : null;
    if (!target) { return; }
    var hidden = target.hidden || (target.closest && target.closest("[hidden]"));
    if (hidden) {
      form.reset();
      apply();
      target.scrollIntoView();
    }
  }
  window.addEventListener("hashchange", reveal);
  form.hidden = false;
  apply();
})();

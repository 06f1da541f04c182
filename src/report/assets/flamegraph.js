// Interactive flame graph over an <svg> laid out by perfbpf (src/report/flamegraph_svg.cpp):
// hover for details, click a frame to zoom into it, Search for a regular expression, Reset.
// The same code serves the standalone .svg file, the HTML report and the live dashboard.
//
// Each frame is a <g data-name data-x data-w data-depth> whose data-x and data-w are in the
// profile's unit (samples or ns), so zoom and the matched share are exact integer arithmetic:
// the matched total is the union of the matched frames' extents, so a frame nested in another
// matched frame (recursion, or a name matching at two depths) is counted once.
function perfbpfFlameGraph(svg) {
  "use strict";
  var frames = svg.querySelector(".frames");
  var width = +svg.getAttribute("data-width"), pad = +svg.getAttribute("data-pad");
  var total = +svg.getAttribute("data-total"), unit = svg.getAttribute("data-unit");
  var details = svg.querySelector(".details"), matched = svg.querySelector(".matched");
  var groups = Array.prototype.slice.call(frames.querySelectorAll("g"));
  var charWidth = 7;
  var api = { zoomed: null, term: "", matched: null };

  function num(g, key) { return +g.getAttribute(key); }
  function fit(g, px) {
    var name = g.getAttribute("data-name"), n = Math.floor((px - 6) / charWidth);
    return n < 3 ? "" : (name.length <= n ? name : name.substring(0, n - 2) + "..");
  }
  function amount(v) {
    if (unit !== "ns") return v + " samples";
    if (v >= 1e9) return (v / 1e9).toFixed(2) + " s";
    if (v >= 1e6) return (v / 1e6).toFixed(2) + " ms";
    if (v >= 1e3) return (v / 1e3).toFixed(2) + " us";
    return v + " ns";
  }

  // Shows the subtree of the frame at [x0, x0 + w0) and depth d0, stretched to full width,
  // with its ancestors below it; everything else is hidden.
  function layout(x0, w0, d0) {
    var scale = (width - 2 * pad) / w0;
    groups.forEach(function (g) {
      var x = num(g, "data-x"), w = num(g, "data-w"), d = num(g, "data-depth");
      var inside = d >= d0 && x >= x0 && x + w <= x0 + w0;
      var ancestor = d < d0 && x <= x0 && x + w >= x0 + w0;
      g.style.display = inside || ancestor ? "" : "none";
      if (!(inside || ancestor)) return;
      var left = Math.max(x, x0), right = Math.min(x + w, x0 + w0);
      var nx = pad + (left - x0) * scale, nw = (right - left) * scale;
      var r = g.querySelector("rect"), t = g.querySelector("text");
      r.setAttribute("x", nx.toFixed(2));
      r.setAttribute("width", nw.toFixed(2));
      t.setAttribute("x", (nx + 3).toFixed(2));
      t.textContent = fit(g, nw);
    });
  }
  function zoom(g) {
    api.zoomed = g === groups[0] ? null : g;
    layout(num(g, "data-x"), num(g, "data-w"), num(g, "data-depth"));
  }
  function reset() { zoom(groups[0]); }

  // Colours every frame whose name matches TERM; returns {count, pct} of the whole profile.
  function search(term) {
    var re;
    api.term = term || "";
    try {
      re = new RegExp(api.term);
    } catch (e) {
      matched.textContent = "Invalid regular expression: " + e.message;
      api.matched = null;
      return null;
    }
    var spans = [];
    groups.forEach(function (g) {
      var r = g.querySelector("rect"), hit = api.term !== "" && re.test(g.getAttribute("data-name"));
      r.setAttribute("fill", hit ? "rgb(230,0,230)" : r.getAttribute("data-fill"));
      if (hit) spans.push([num(g, "data-x"), num(g, "data-x") + num(g, "data-w")]);
    });
    spans.sort(function (a, b) { return a[0] - b[0]; });
    var count = 0, end = -1;
    spans.forEach(function (s) {
      if (s[0] >= end) { count += s[1] - s[0]; end = s[1]; }
      else if (s[1] > end) { count += s[1] - end; end = s[1]; }
    });
    api.matched = api.term === "" ? null : { count: count, pct: total ? 100 * count / total : 0 };
    matched.textContent = api.matched
      ? "Matched: " + api.matched.pct.toFixed(2) + "% (" + amount(count) + " of " + amount(total) + ")"
      : " ";
    return api.matched;
  }

  frames.addEventListener("mouseover", function (e) {
    var g = e.target.closest("g");
    if (g) details.textContent = g.querySelector("title").textContent;
  });
  frames.addEventListener("mouseout", function () { details.textContent = " "; });
  frames.addEventListener("click", function (e) {
    var g = e.target.closest("g");
    if (g) zoom(g);
  });
  svg.querySelector(".reset").addEventListener("click", reset);
  svg.querySelector(".search").addEventListener("click", function () {
    var term = window.prompt("Search frames (regular expression)", api.term);
    if (term !== null) search(term);
  });
  api.zoom = zoom;
  api.reset = reset;
  api.search = search;
  svg.perfbpf = api;
  return api;
}

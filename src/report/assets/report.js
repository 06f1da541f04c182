// Renders a perfbpf report (the JSON report's schema, docs/report-schema.json) into the page:
// the HTML report (data embedded in #perfbpf-report) and the live dashboard (the same page,
// data-live="1", polling report.json every interval) share this code.
// Charts are Chart.js (Debian's libjs-chart.js, embedded); flame graphs are the SVG that
// perfbpf lays out, made interactive by flamegraph.js.
(function () {
  "use strict";
  var live = document.body.getAttribute("data-live") === "1";
  var charts = {};
  var state = { selected: null, sortKey: "total", sortDesc: true, report: null, ended: false };

  // ---- formatting (the text summary's units: three significant digits)
  function sig3(v) { return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2); }
  function dur(ns) {
    if (ns === null || ns === undefined || isNaN(ns)) return "-";
    if (ns < 1e3) return sig3(ns) + " ns";
    if (ns < 1e6) return sig3(ns / 1e3) + " us";
    if (ns < 1e9) return sig3(ns / 1e6) + " ms";
    return sig3(ns / 1e9) + " s";
  }
  function bytes(b) {
    var units = ["B", "KiB", "MiB", "GiB", "TiB"], i = 0;
    while (b >= 1024 && i < units.length - 1) { b /= 1024; i++; }
    return (i ? sig3(b) : b.toFixed(0)) + " " + units[i];
  }
  function num(n) { return Number(n).toLocaleString("en-US"); }
  function pct(v) { return v.toFixed(1) + "%"; }
  function byUnit(v, unit) {
    return unit === "ns" ? dur(v) : unit === "bytes" ? bytes(v) : unit === "%" ? pct(v)
      : unit === "bytes/min" ? bytes(v) + "/min" : sig3(v) + (unit ? " " + unit : "");
  }
  function esc(s) {
    return String(s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }
  function $(id) { return document.getElementById(id); }

  // ---- charts
  // Vertical marks on the x axis: percentiles on a histogram, alerts on a time series.
  var marksPlugin = {
    id: "perfbpfMarks",
    afterDatasetsDraw: function (chart, args, opts) {
      var marks = (opts && opts.marks) || [], x = chart.scales.x, area = chart.chartArea, ctx = chart.ctx;
      ctx.save();
      marks.forEach(function (m, i) {
        var px = x.getPixelForValue(m.value);
        if (!(px >= area.left && px <= area.right)) return;
        ctx.strokeStyle = m.color;
        ctx.setLineDash([4, 3]);
        ctx.beginPath();
        ctx.moveTo(px, area.top);
        ctx.lineTo(px, area.bottom);
        ctx.stroke();
        ctx.fillStyle = m.color;
        ctx.font = "11px sans-serif";
        ctx.fillText(m.label, px + 3, area.top + 11 + (i % 4) * 12);
      });
      ctx.restore();
    }
  };
  Chart.register(marksPlugin);
  var palette = ["#2456a6", "#d9480f", "#2f9e44", "#ae3ec9", "#c69200", "#1098ad", "#e8590c", "#5c940d",
    "#862e9c", "#364fc7"];

  // Creates the chart on canvas ID, or updates it in place (live mode: no flicker, no leak).
  function lineChart(id, datasets, opts) {
    var canvas = $(id);
    if (!canvas) return null;
    datasets.forEach(function (d, i) {
      d.borderColor = d.borderColor || palette[i % palette.length];
      d.backgroundColor = d.backgroundColor || d.borderColor;
      d.pointRadius = d.pointRadius === undefined ? 0 : d.pointRadius;
      d.borderWidth = d.borderWidth || 1.5;
    });
    var marks = opts.marks || [];
    if (charts[id]) {
      charts[id].data.datasets = datasets;
      charts[id].options.plugins.perfbpfMarks.marks = marks;
      charts[id].update("none");
      return charts[id];
    }
    charts[id] = new Chart(canvas, {
      type: "line",
      data: { datasets: datasets },
      options: {
        animation: false, parsing: false, normalized: true, maintainAspectRatio: false,
        interaction: { mode: "nearest", axis: "x", intersect: false },
        scales: {
          x: { type: opts.xLog ? "logarithmic" : "linear", title: { display: true, text: opts.xTitle },
               ticks: { callback: opts.xTick || function (v) { return v; } } },
          y: { beginAtZero: true, title: { display: !!opts.yTitle, text: opts.yTitle },
               ticks: { callback: opts.yTick || function (v) { return v; } } }
        },
        plugins: {
          legend: { display: datasets.length > 1, labels: { boxWidth: 12 } },
          tooltip: { callbacks: { label: function (c) {
            return c.dataset.label + ": " + (opts.yTick ? opts.yTick(c.parsed.y) : c.parsed.y);
          } } },
          perfbpfMarks: { marks: marks }
        }
      }
    });
    return charts[id];
  }

  // ---- header and navigation
  function target(r) {
    var s = r.session;
    if (s.mode === "command" && s.command.length) return s.command.join(" ");
    if (s.mode === "system") return "system-wide";
    if (s.mode === "cgroup") return "cgroup " + ((r.system && r.system.cgroup) || "");
    return "pid " + s.pid;
  }
  function renderHeader(r) {
    var s = r.session, a = r.analysis;
    document.title = "perfbpf: " + target(r);
    var html = "<h1>perfbpf: " + esc(target(r)) + "</h1><div class=facts>" +
      esc(s.mode) + " session on " + esc(s.hostname) + " (Linux " + esc(s.kernel) + "), started " + esc(s.start) +
      ", " + sig3(s.duration_s) + " s" + (live ? "" : ", ended by " + esc(s.end_reason)) +
      (s.exit_code >= 0 ? ", exit code " + s.exit_code : "") + " &middot; perfbpf " + esc(r.tool.version) + "</div>";
    if (live) html += "<span id=live-status class='live" + (state.ended ? " ended" : "") + "'>" +
      (state.ended ? "session ended" : "live") + "</span>";
    if (a) html += "<div class=health title='100 less points per bottleneck (docs/analysis.md)'><div class=score>" +
      a.health.score.toFixed(0) + "</div><div class=grade>health, grade " + esc(a.health.grade) + "</div></div>";
    $("header").innerHTML = html;
  }

  // ---- analysis, each finding linked to the chart it rests on
  function chartFor(b) {
    var m = b.evidence.metric, c = b.category;
    if (b.affects.function) return { id: "functions", fn: b.affects.function };
    if (c === "data-quality") return { id: "quality" };
    if (c === "memory") return { id: "chart-rss" };
    if (c === "network") return { id: "chart-net" };
    if (c === "scheduling" || m.indexOf("runqueue") >= 0) return { id: "chart-latency" };
    if (c === "io") return { id: b.affects.device ? "chart-latency" : "chart-disk" };
    if (c === "cpu") return { id: "chart-cpu" };
    return { id: "series" };
  }
  function renderAnalysis(r) {
    var a = r.analysis, box = $("analysis-body");
    if (!a) { box.innerHTML = "<p class=muted>This report was not analysed.</p>"; return; }
    var html = "";
    if (!a.bottlenecks.length) html += "<p>No bottleneck found against the thresholds.</p>";
    a.bottlenecks.forEach(function (b, i) {
      var e = b.evidence, link = chartFor(b);
      html += "<div class='bottleneck " + esc(b.severity) + "' id='bottleneck-" + i + "'><span class='sev " +
        esc(b.severity) + "'>" + esc(b.severity) + "</span>" + esc(b.title) +
        " <a href='#" + link.id + "' class=evidence-link data-chart='" + link.id + "' data-fn='" +
        esc(link.fn || "") + "'>see the chart</a><div class=evidence>" + esc(e.metric) + " = " +
        byUnit(e.value, e.unit) + " vs threshold " + byUnit(e.threshold, e.unit) + ", resting on " +
        pct(100 * e.data_share) + " of the data" + (e.detail ? "; " + esc(e.detail) : "") + "</div></div>";
    });
    if (a.recommendations.length) {
      html += "<h3>Recommendations</h3><ol>";
      a.recommendations.forEach(function (rec) {
        html += "<li>" + esc(rec.text) + "</li>";
      });
      html += "</ol>";
    }
    var trends = a.trends.filter(function (t) { return t.direction !== "stable"; });
    if (trends.length) {
      html += "<h3>Trends</h3><ul>";
      trends.forEach(function (t) {
        html += "<li>" + esc(t.series) + " " + esc(t.direction) + ", " + byUnit(t.slope_per_s, t.unit) +
          "/s (Mann-Kendall p = " + t.p_value.toPrecision(2) + ", " + t.samples + " samples)</li>";
      });
      html += "</ul>";
    }
    if (a.alerts.length) {
      html += "<h3>Alerts during the session</h3><ul>";
      a.alerts.forEach(function (x) {
        html += "<li>at " + x.t.toFixed(1) + " s: " + esc(x.metric) + " of " + esc(x.subject) + " = " +
          byUnit(x.value, x.unit) + " over " + byUnit(x.threshold, x.unit) + "</li>";
      });
      html += "</ul>";
    }
    box.innerHTML = html;
  }
  document.addEventListener("click", function (e) {
    var a = e.target.closest && e.target.closest("a.evidence-link");
    if (!a) return;
    var fn = a.getAttribute("data-fn");
    if (fn) selectFunction(fn);
    var target = $(a.getAttribute("data-chart"));
    if (!target) return;
    var box = target.closest(".chart-box") || target;
    box.classList.add("flash");
    setTimeout(function () { box.classList.remove("flash"); }, 1500);
  });

  // ---- functions: sortable table, histogram of the selected one with its percentiles
  var columns = [
    { key: "name", title: "function", get: function (f) { return f.demangled; } },
    { key: "calls", title: "calls", get: function (f) { return f.calls; }, fmt: num },
    { key: "mean", title: "mean", get: function (f) { return f.latency_ns.mean; }, fmt: dur },
    { key: "p50", title: "p50", get: function (f) { return f.latency_ns.p50; }, fmt: dur },
    { key: "p90", title: "p90", get: function (f) { return f.latency_ns.p90; }, fmt: dur },
    { key: "p99", title: "p99", get: function (f) { return f.latency_ns.p99; }, fmt: dur },
    { key: "p999", title: "p99.9", get: function (f) { return f.latency_ns.p999; }, fmt: dur },
    { key: "max", title: "max", get: function (f) { return f.latency_ns.max; }, fmt: dur },
    { key: "total", title: "total", get: function (f) { return f.latency_ns.total; }, fmt: dur },
    // Time inside a function is summed over the threads that ran it: over the session's wall
    // time alone it would pass 100 % for a function two threads run at once. "% of thread time"
    // divides by the wall time of every thread that called it (the average share of its callers'
    // time, what perf's and pprof's percentages of all threads' time are); "busiest thread" is
    // one thread's share of the session's wall time, so neither can exceed 100 % but by a
    // recursive function's nested calls, each timed (docs/how-it-works.md).
    { key: "share", title: "% of thread time", tip: "time inside the function, summed over the threads that called it, " +
      "over the session's wall time times those threads", get: threadShare, fmt: pct },
    { key: "busiest", title: "busiest thread", tip: "the largest share of the session's wall time one thread spent inside " +
      "the function (its tid in the cell's tooltip)", get: busiestShare, fmt: pct,
      cellTip: function (f, r) {
        var t = busiestThread(f);
        return t ? "tid " + t.tid + " (pid " + t.tgid + "): " + dur(t.total_ns) + " in " + num(t.calls) + " calls over " +
          r.session.duration_s.toFixed(2) + " s; all " + f.threads.length + " threads: " + dur(f.latency_ns.total) : "";
      } },
    { key: "overhead", title: "probe cost", get: function (f) { return f.overhead_pct; }, fmt: function (v) {
      return v.toFixed(2) + "%"; } }
  ];
  function threadShare(f, r) {
    var wall = r.session.duration_s * 1e9 * f.threads.length;
    return wall > 0 ? 100 * f.latency_ns.total / wall : 0;
  }
  function busiestThread(f) {
    return f.threads.reduce(function (best, t) { return !best || t.total_ns > best.total_ns ? t : best; }, null);
  }
  function busiestShare(f, r) {
    var t = busiestThread(f);
    return t && r.session.duration_s > 0 ? 100 * t.total_ns / (r.session.duration_s * 1e9) : 0;
  }
  function renderFunctions(r) {
    var box = $("functions-table");
    if (!r.functions.length) {
      box.innerHTML = "<p class=muted>No function was timed in this session (-f names functions).</p>";
      $("histogram-box").style.display = "none";
      return;
    }
    $("histogram-box").style.display = "";
    var col = columns.filter(function (c) { return c.key === state.sortKey; })[0] ||
      columns.filter(function (c) { return c.key === "total"; })[0];
    var rows = r.functions.slice().sort(function (a, b) {
      var x = col.get(a, r), y = col.get(b, r), o = x < y ? -1 : x > y ? 1 : 0;
      return state.sortDesc ? -o : o;
    });
    var html = "<table id=functions-grid><thead><tr>";
    columns.forEach(function (c) {
      html += "<th class='sortable" + (c.key === state.sortKey ? (state.sortDesc ? " sorted-desc" : " sorted-asc") : "") +
        "' data-key='" + c.key + "'" + (c.tip ? " title='" + esc(c.tip) + "'" : "") + ">" + c.title + "</th>";
    });
    html += "</tr></thead><tbody>";
    rows.forEach(function (f) {
      html += "<tr class='clickable" + (f.demangled === state.selected ? " selected" : "") + "' data-fn='" +
        esc(f.demangled) + "' title='" + esc(f.object) + "; probe " + esc(f.probe.site) + "'>";
      columns.forEach(function (c) {
        var v = c.get(f, r);
        html += "<td" + (c.cellTip ? " title='" + esc(c.cellTip(f, r)) + "'" : "") + ">" + (c.fmt ? c.fmt(v) : esc(v)) +
          (c.key === "name" && f.in_flight ?
          " <span class=muted>(" + f.in_flight + " in flight)</span>" : "") + "</td>";
      });
      html += "</tr>";
    });
    box.innerHTML = html + "</tbody></table>";
    if (!state.selected || !r.functions.some(function (f) { return f.demangled === state.selected; }))
      state.selected = rows[0].demangled;
    renderHistogram(r);
  }
  document.addEventListener("click", function (e) {
    var th = e.target.closest && e.target.closest("#functions-grid th.sortable");
    if (th) {
      var key = th.getAttribute("data-key");
      state.sortDesc = key === state.sortKey ? !state.sortDesc : key !== "name";
      state.sortKey = key;
      renderFunctions(state.report);
      return;
    }
    var tr = e.target.closest && e.target.closest("#functions-grid tbody tr");
    if (tr) selectFunction(tr.getAttribute("data-fn"));
  });
  function selectFunction(name) {
    state.selected = name;
    renderFunctions(state.report);
  }
  // Lower end of the log-linear bucket whose inclusive upper end is UPPER (histogram.h): exact
  // below 256 ns, then 128 buckets per power of two.
  function bucketLower(upper) {
    if (upper < 256) return upper;
    return upper - Math.pow(2, Math.floor(Math.log2(upper)) - 7) + 1;
  }
  function renderHistogram(r) {
    var f = r.functions.filter(function (x) { return x.demangled === state.selected; })[0];
    if (!f) return;
    $("histogram-title").textContent = "Latency of " + f.demangled + " (" + num(f.calls) +
      " calls; log axis; buckets within 0.4 % of their values)";
    // The report's non-empty buckets, with zeros where buckets between them are empty (so
    // the line drops to the axis there instead of bridging the gap).
    var points = [], bounds = f.histogram.bounds_ns, counts = f.histogram.counts;
    for (var i = 0; i < bounds.length; i++) {
      var lower = bucketLower(bounds[i]);
      if (i > 0 && lower > bounds[i - 1] + 1) {
        points.push({ x: bounds[i - 1] + 1, y: 0 });
        if (lower - 1 > bounds[i - 1] + 1) points.push({ x: lower - 1, y: 0 });
      }
      points.push({ x: Math.max(1, bounds[i]), y: counts[i] });
    }
    var l = f.latency_ns;
    lineChart("chart-histogram", [{ label: "calls per bucket", data: points, stepped: "before", fill: true,
      backgroundColor: "rgba(36,86,166,0.25)", pointRadius: points.length < 40 ? 2 : 0 }], {
      xLog: true, xTitle: "latency", xTick: function (v) {
        var p = Math.log10(v);
        return Math.abs(p - Math.round(p)) < 1e-9 ? dur(v) : "";
      }, yTitle: "calls",
      marks: [{ value: l.p50, label: "p50 " + dur(l.p50), color: "#2f9e44" },
              { value: l.p90, label: "p90 " + dur(l.p90), color: "#c69200" },
              { value: l.p99, label: "p99 " + dur(l.p99), color: "#d9480f" },
              { value: l.p999, label: "p99.9 " + dur(l.p999), color: "#b3001b" }]
    });
  }

  // ---- where each function's time went (--decompose): shares of all split calls and of the
  // p99 band, then the slowest calls with the stack of their longest wait
  var parts = [["on_cpu", "on-CPU"], ["runqueue", "run queue"], ["io", "I/O"], ["lock", "lock"], ["sleep", "sleep"]];
  var partColor = { on_cpu: "#2f9e44", runqueue: "#c69200", io: "#1098ad", lock: "#d9480f", sleep: "#7048e8" };
  function splitShares(d) {
    var sum = parts.reduce(function (s, p) { return s + d[p[0]].total; }, 0);
    var out = {};
    parts.forEach(function (p) { out[p[0]] = sum > 0 ? 100 * d[p[0]].total / sum : 0; });
    return out;
  }
  function splitBar(shares) {
    return "<div class=split-bar>" + parts.map(function (p) {
      return shares[p[0]] > 0 ? "<span style='width:" + shares[p[0]].toFixed(2) + "%;background:" + partColor[p[0]] +
        "' title='" + p[1] + " " + pct(shares[p[0]]) + "'></span>" : "";
    }).join("") + "</div>";
  }
  function splitRow(f, band, d) {
    var shares = splitShares(d);
    var html = "<tr data-fn='" + esc(f.demangled) + "' data-band='" + band + "'><td>" +
      (band === "all" ? esc(f.demangled) : "") + "</td><td>" + (band === "all" ? "all calls" : "p99 calls") +
      "</td><td>" + num(d.calls) + (d.incomplete ? " <span class=warn title='a switch or wakeup went unseen'>(" +
      num(d.incomplete) + " incomplete)</span>" : "") + "</td>";
    parts.forEach(function (p) {
      html += "<td data-part='" + p[0] + "' data-share='" + shares[p[0]] + "' title='mean " + esc(dur(d[p[0]].mean)) +
        ", p50 " + esc(dur(d[p[0]].p50)) + ", p99 " + esc(dur(d[p[0]].p99)) + " per call'>" + pct(shares[p[0]]) +
        " <span class=muted>" + dur(d[p[0]].mean) + "</span></td>";
    });
    return html + "<td>" + splitBar(shares) + "</td></tr>";
  }
  function waitText(c) {
    var w = c.wait;
    if (!w) return "no blocked wait";
    var text = "longest wait " + dur(w.ns) + " (" + esc(w.kind) + ")";
    // From where the holder entered libc's unlock (not the internals under it), then its callers.
    var hs = w.holder_stack || [], start = 0;
    for (var i = 1; i < hs.length; i++) if (hs[i].object !== hs[0].object) { start = i - 1; break; }
    var holder = hs.length ? hs.slice(start, start + 3).map(function (fr) { return fr.name; }).join(" <- ") : w.holder_function;
    if (w.holder_tid) text += ", lock held by tid " + w.holder_tid + (holder ? " in " + esc(holder) : "") +
      " <span class=muted>(" + esc(w.holder_source) + ")</span>";
    return text;
  }
  function renderDecomposition(r) {
    var fns = r.functions.filter(function (f) { return f.decomposition_ns; });
    $("decomposition").hidden = !fns.length;
    $("nav-decomposition").hidden = !fns.length;
    if (!fns.length) return;
    var html = "<table id=decomposition-grid><thead><tr><th>function</th><th>calls</th><th>calls split</th>" +
      parts.map(function (p) { return "<th>" + p[1] + "</th>"; }).join("") + "<th>share of time</th></tr></thead><tbody>";
    fns.forEach(function (f) {
      html += splitRow(f, "all", f.decomposition_ns) + splitRow(f, "p99", f.decomposition_ns.p99_calls);
    });
    $("decomposition-table").innerHTML = html + "</tbody></table>";
    var calls = "";
    fns.forEach(function (f) {
      if (!f.slowest_calls || !f.slowest_calls.length) return;
      calls += "<details class=slow-calls data-fn='" + esc(f.demangled) + "' open><summary>Slowest calls of " +
        esc(f.demangled) + "</summary><ol>";
      f.slowest_calls.forEach(function (c) {
        calls += "<li data-duration='" + c.duration_ns + "'><strong>" + dur(c.duration_ns) + "</strong> at " +
          c.t_s.toFixed(3) + " s, tid " + c.tid + (c.incomplete ? " <span class=warn>(incomplete)</span>" : "") + ": " +
          parts.map(function (p) { return p[1] + " " + dur(c[p[0]]); }).join(", ") + "; " + waitText(c);
        if (c.wait && c.wait.stack.length)
          calls += "<ol class=wait-stack>" + c.wait.stack.map(function (fr) {
            return "<li>" + esc(fr.name) + " <span class=muted>" + esc(fr.object) + "</span></li>";
          }).join("") + "</ol>";
        if (c.wait && c.wait.holder_stack && c.wait.holder_stack.length)
          calls += "<div class=muted>the holder, tid " + c.wait.holder_tid + ", as it unlocked:</div><ol class=holder-stack>" +
            c.wait.holder_stack.map(function (fr) {
              return "<li>" + esc(fr.name) + " <span class=muted>" + esc(fr.object) + "</span></li>";
            }).join("") + "</ol>";
        calls += "</li>";
      });
      calls += "</ol></details>";
    });
    $("decomposition-calls").innerHTML = calls;
  }

  // ---- time series, with alerts marked where they started
  function alertMarks(r, test) {
    if (!r.analysis) return [];
    return r.analysis.alerts.filter(function (a) { return test(a.metric); }).map(function (a) {
      return { value: a.t, label: "alert: " + a.metric + " " + a.subject, color: "#b3001b" };
    });
  }
  function renderSeries(r) {
    var sys = r.system, series = sys ? sys.series : [];
    var noSeries = !series.length && !r.functions.some(function (f) { return f.series && f.series.length; });
    $("series-empty").style.display = noSeries ? "" : "none";
    function xy(key, scale) {
      return series.map(function (s) { return { x: s.t, y: scale ? s[key] / s.dt : s[key] }; });
    }
    var has = function (c) { return sys && sys.collectors.indexOf(c) >= 0; };
    var show = function (id, on) { $(id).closest(".chart-box").style.display = on ? "" : "none"; };
    var xt = "seconds into the session";
    show("chart-cpu", has("sched"));
    if (has("sched"))
      lineChart("chart-cpu", [{ label: "CPU % (100 = one CPU)", data: xy("cpu_pct") }],
        { xTitle: xt, yTick: function (v) { return v.toFixed ? v.toFixed(0) + "%" : v; },
          marks: alertMarks(r, function (m) { return m === "cpu_pct"; }) });
    show("chart-rss", has("memory"));
    if (has("memory"))
      lineChart("chart-rss", [{ label: "RSS", data: xy("rss_bytes") }],
        { xTitle: xt, yTick: bytes, marks: alertMarks(r, function (m) { return m === "memory_used_pct"; }) });
    show("chart-disk", has("block"));
    if (has("block"))
      lineChart("chart-disk", [{ label: "read", data: xy("disk_read_bytes", true) },
                               { label: "write", data: xy("disk_write_bytes", true) }],
        { xTitle: xt, yTick: function (v) { return bytes(v) + "/s"; } });
    show("chart-net", has("network"));
    if (has("network"))
      lineChart("chart-net", [{ label: "sent", data: xy("net_tx_bytes", true) },
                              { label: "received", data: xy("net_rx_bytes", true) }],
        { xTitle: xt, yTick: function (v) { return bytes(v) + "/s"; } });
    var lat = [];
    if (has("sched")) lat.push({ label: "run-queue p99", data: xy("runqueue_p99_ns") });
    if (has("block")) lat.push({ label: "disk request p99", data: xy("disk_p99_ns") });
    show("chart-latency", lat.length > 0);
    if (lat.length) lineChart("chart-latency", lat, { xTitle: xt, yTick: dur });
    // p99 per interval of the functions with the most time, at most ten
    var fns = r.functions.filter(function (f) { return f.series && f.series.length; })
      .sort(function (a, b) { return b.latency_ns.total - a.latency_ns.total; }).slice(0, 10);
    show("chart-function-p99", fns.length > 0);
    if (fns.length)
      lineChart("chart-function-p99", fns.map(function (f) {
        return { label: f.demangled, data: f.series.filter(function (i) { return i.calls > 0; })
          .map(function (i) { return { x: i.t, y: i.p99 }; }) };
      }), { xTitle: xt, yTick: dur, marks: alertMarks(r, function (m) { return m.indexOf("function.") === 0; }) });
  }

  // ---- processes (system and cgroup scope keep the top N), disks
  function renderProcesses(r) {
    var sys = r.system, box = $("processes-body");
    if (!sys || !sys.processes.length) { $("processes").style.display = "none"; return; }
    $("processes").style.display = "";
    var html = "<table><thead><tr><th>process</th><th>CPU</th><th>CPU %</th><th>run-queue wait</th><th>I/O wait</th>" +
      "<th>RSS peak</th><th>disk read</th><th>disk written</th><th>net sent</th><th>net received</th></tr></thead><tbody>";
    sys.processes.forEach(function (p) {
      html += "<tr><td>" + esc(p.comm) + " <span class=muted>" + p.pid + (p.exited ? ", exited" : "") + "</span></td><td>" +
        dur(p.cpu_time_ns) + "</td><td>" + pct(p.cpu_pct) + "</td><td>" + dur(p.off_cpu_ns.runqueue) + "</td><td>" +
        dur(p.off_cpu_ns.io) + "</td><td>" + bytes(p.memory.rss_peak_bytes) + "</td><td>" + bytes(p.disk.read_bytes) +
        "</td><td>" + bytes(p.disk.write_bytes) + "</td><td>" + bytes(p.net.tx_bytes) + "</td><td>" +
        bytes(p.net.rx_bytes) + "</td></tr>";
    });
    html += "</tbody></table>";
    if (sys.processes_omitted) html += "<p class=muted>" + sys.processes_omitted + " more processes not kept (--top).</p>";
    if (sys.disks.length) {
      html += "<h3>Disks</h3><table><thead><tr><th>device</th><th>read</th><th>written</th><th>requests</th>" +
        "<th>queue p99</th><th>service p99</th><th>total p50</th><th>total p99</th></tr></thead><tbody>";
      sys.disks.forEach(function (d) {
        var l = d.latency_ns;
        html += "<tr><td>" + esc(d.name) + "</td><td>" + bytes(d.read_bytes) + "</td><td>" + bytes(d.write_bytes) +
          "</td><td>" + num(d.read_ios + d.write_ios) + "</td><td>" + dur(l.queue.p99) + "</td><td>" +
          dur(l.service.p99) + "</td><td>" + dur(l.total.p50) + "</td><td>" + dur(l.total.p99) + "</td></tr>";
      });
      html += "</tbody></table>";
    }
    box.innerHTML = html;
  }

  // ---- losses and overhead: shown whatever their size, never hidden
  function lossRows(source, byReason) {
    var rows = "";
    Object.keys(byReason || {}).forEach(function (k) {
      rows += "<tr><td>" + esc(source) + ": " + esc(k) + "</td><td" + (byReason[k] ? " class=warn" : "") + ">" +
        num(byReason[k]) + "</td></tr>";
    });
    return rows;
  }
  function renderQuality(r) {
    var o = r.overhead, e = r.events;
    var rows = "<tr><td>function call records received</td><td>" + num(e.received) + "</td></tr>" +
      "<tr><td>function call records lost</td><td" + (e.lost ? " class=warn" : "") + ">" + num(e.lost) + "</td></tr>" +
      lossRows("functions", e.lost_by_reason) + lossRows("--decompose", e.split_by_reason);
    if (r.stacks) rows += "<tr><td>on-CPU samples</td><td>" + num(r.stacks.samples) + " (" +
      pct(r.stacks.coverage_pct) + " of frames named)</td></tr>" + lossRows("stacks", r.stacks.lost_by_reason);
    if (r.off_cpu) rows += "<tr><td>off-CPU time recorded</td><td>" + dur(r.off_cpu.samples) + "</td></tr>" +
      lossRows("off-CPU", r.off_cpu.lost_by_reason);
    if (r.system) rows += lossRows("collectors", r.system.lost_by_reason);
    rows += "<tr><td>data completeness</td><td" + (o.completeness_pct < 100 ? " class=warn" : "") + ">" +
      o.completeness_pct.toFixed(2) + "%</td></tr>" +
      "<tr><td>estimated slowdown of the target by the probes (budget " + o.budget_pct + "%)</td><td" +
      (o.target_slowdown_pct > o.budget_pct ? " class=warn" : "") + ">" + o.target_slowdown_pct.toFixed(3) + "%</td></tr>" +
      "<tr><td>BPF programs' run time (" + esc(o.bpf_stats) + ")</td><td>" + dur(o.bpf_run_time_ns) + " in " +
      num(o.bpf_run_count) + " runs</td></tr>" +
      "<tr><td>perfbpf's own CPU time</td><td>" + o.perfbpf_cpu_s.toFixed(3) + " s</td></tr>" +
      "<tr><td>perfbpf's own peak RSS</td><td>" + bytes(o.perfbpf_peak_rss_bytes) + "</td></tr>" +
      "<tr><td>probe calibration</td><td>" + esc(r.calibration.method) + (r.calibration.from_cache ? " (cached)" : "") +
      "</td></tr>";
    $("quality-body").innerHTML = "<table id=quality-table><tbody>" + rows + "</tbody></table>";
  }

  // ---- flame graphs: the SVGs are in the page; live, fresh ones are fetched unless in use
  var lastSvg = {};
  function refreshFlameGraph(kind) {
    var box = $("flamegraph-" + kind), old = box.querySelector("svg.perfbpf-flamegraph");
    if (old && old.perfbpf && (old.perfbpf.zoomed || old.perfbpf.term)) return;  // the user is looking
    return fetch("flamegraph/" + kind + ".svg", { cache: "no-store" }).then(function (res) {
      if (res.status === 204 || !res.ok) return;
      return res.text().then(function (text) {
        if (text === lastSvg[kind]) return;  // unchanged: keep the one on screen
        lastSvg[kind] = text;
        var doc = new DOMParser().parseFromString(text, "image/svg+xml");
        var svg = doc.documentElement;
        svg.querySelectorAll("script").forEach(function (s) { s.remove(); });
        var fresh = document.importNode(svg, true);
        box.replaceChildren(fresh);
        perfbpfFlameGraph(fresh);
      });
    });
  }

  function render(r) {
    state.report = r;
    renderHeader(r);
    renderAnalysis(r);
    renderFunctions(r);
    renderDecomposition(r);
    renderSeries(r);
    renderProcesses(r);
    renderQuality(r);
    document.body.setAttribute("data-rendered", String(r.session.duration_s));
  }

  // The live dashboard asks for the report so far each interval; when the server is gone the
  // session has ended and the page keeps the last report it had.
  function poll() {
    var interval = Math.max(500, 1000 * ((state.report.system && state.report.system.interval_s) || 1));
    fetch("report.json", { cache: "no-store" }).then(function (res) {
      if (!res.ok) throw new Error(res.status);
      return res.json();
    }).then(function (r) {
      render(r);
      return Promise.all([refreshFlameGraph("cpu"), refreshFlameGraph("off-cpu")]);
    }).then(function () {
      setTimeout(poll, interval);
    }, function () {
      state.ended = true;
      renderHeader(state.report);
    });
  }

  // A data block of the page (html_report.cpp): gzip, then base64. Null when absent.
  function inflate(id) {
    var el = $(id);
    if (!el) return Promise.resolve(null);
    var text = atob(el.textContent.trim()), bytes = new Uint8Array(text.length);
    for (var i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
    var stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    return new Response(stream).text();
  }
  function placeFlameGraph(kind, markup) {
    if (!markup) return;
    lastSvg[kind] = null;
    var box = $("flamegraph-" + kind);
    box.innerHTML = markup;
    perfbpfFlameGraph(box.querySelector("svg.perfbpf-flamegraph"));
  }

  window.perfbpfReport = { charts: charts, state: state, render: render };
  if (typeof DecompressionStream === "undefined") {
    document.body.insertAdjacentHTML("afterbegin", "<p class=warn>This browser cannot inflate the report's data " +
      "(DecompressionStream): open it in a current Chromium, Firefox or Safari.</p>");
    return;
  }
  Promise.all([inflate("perfbpf-report"), inflate("flamegraph-cpu-svg"), inflate("flamegraph-off-cpu-svg")])
    .then(function (data) {
      placeFlameGraph("cpu", data[1]);
      placeFlameGraph("off-cpu", data[2]);
      render(JSON.parse(data[0]));
      if (live) setTimeout(poll, 200);
    });
})();

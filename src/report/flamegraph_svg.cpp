#include "report/flamegraph_svg.h"

#include <fmt/format.h>

#include <functional>
#include <map>
#include <memory>

namespace perfbpf {
namespace {

constexpr double kWidth = 1200, kFrameHeight = 16, kPad = 10, kHeader = 40, kMinWidthPx = 0.1;

struct Node {
  std::string name;
  bool kernel = false;
  uint64_t count = 0;
  std::map<std::string, std::unique_ptr<Node>> children;
  Node* child(const std::string& n, bool k) {
    auto& c = children[n + (k ? "\x01" : "")];
    if (!c) {
      c = std::make_unique<Node>();
      c->name = n;
      c->kernel = k;
    }
    return c.get();
  }
};

std::string xml_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

// Warm colours for user code, cooler for the kernel; stable per name so graphs compare.
std::string colour(const std::string& name, bool kernel) {
  size_t h = std::hash<std::string>{}(name);
  int r = kernel ? 200 + static_cast<int>(h % 55) : 205 + static_cast<int>(h % 50);
  int g = kernel ? 120 + static_cast<int>((h >> 8) % 60) : 60 + static_cast<int>((h >> 8) % 130);
  int b = kernel ? 60 + static_cast<int>((h >> 16) % 40) : static_cast<int>((h >> 16) % 55);
  return fmt::format("rgb({},{},{})", r, g, b);
}

size_t depth_of(const Node& n) {
  size_t d = 0;
  for (const auto& [_, c] : n.children) d = std::max(d, depth_of(*c));
  return d + 1;
}

constexpr const char* kScript = R"JS(
var svg = document.documentElement, frames = document.getElementById("frames");
var details = document.getElementById("details"), matched = document.getElementById("matched");
function info(g) { return g.getElementsByTagName("title")[0].textContent; }
frames.addEventListener("mouseover", function(e) { var g = e.target.closest("g"); if (g) details.textContent = info(g); });
frames.addEventListener("mouseout", function() { details.textContent = " "; });
function zoom(g) {
  var r = g.getElementsByTagName("rect")[0], x = +r.getAttribute("data-x"), w = +r.getAttribute("data-w");
  var y = +r.getAttribute("y"), scale = (WIDTH - 2 * PAD) / w;
  Array.prototype.forEach.call(frames.getElementsByTagName("g"), function(o) {
    var orr = o.getElementsByTagName("rect")[0], ox = +orr.getAttribute("data-x"), ow = +orr.getAttribute("data-w");
    var inside = ox >= x - 1e-6 && ox + ow <= x + w + 1e-6, below = +orr.getAttribute("y") > y;
    var keep = inside || (below && ox <= x && ox + ow >= x + w);
    o.style.display = keep ? "" : "none";
    if (!keep) return;
    var nx = PAD + (Math.max(ox, x) - x) * scale, nw = Math.min(ow, w) * scale;
    orr.setAttribute("x", nx); orr.setAttribute("width", nw);
    var t = o.getElementsByTagName("text")[0]; t.setAttribute("x", nx + 3);
    var label = o.getAttribute("data-name"), fit = Math.floor((nw - 6) / 7);
    t.textContent = fit < 3 ? "" : (label.length <= fit ? label : label.substring(0, fit - 2) + "..");
  });
}
frames.addEventListener("click", function(e) { var g = e.target.closest("g"); if (g) zoom(g); });
function reset() { zoom(document.getElementById("root")); }
function search() {
  var term = prompt("Search frames (regular expression)", ""); if (term === null) return;
  var re = new RegExp(term), total = 0, seen = {};
  Array.prototype.forEach.call(frames.getElementsByTagName("g"), function(g) {
    var r = g.getElementsByTagName("rect")[0], hit = term !== "" && re.test(g.getAttribute("data-name"));
    r.setAttribute("fill", hit ? "rgb(230,0,230)" : r.getAttribute("data-fill"));
    if (hit) { var k = r.getAttribute("data-x"); var w = +r.getAttribute("data-w"); if (!(k in seen) || seen[k] < w) seen[k] = w; }
  });
  for (var k in seen) total += seen[k];
  matched.textContent = term === "" ? " " : "Matched: " + (100 * total / (WIDTH - 2 * PAD)).toFixed(1) + "%";
}
)JS";

}  // namespace

void write_flamegraph_svg(const StackProfile& stacks, const std::string& title, std::ostream& out) {
  Node root;
  root.name = "all";
  for (const StackCount& s : stacks.stacks) {
    root.count += s.count;
    auto comm = stacks.processes.find(s.tgid);
    Node* n = root.child(comm != stacks.processes.end() ? comm->second : "pid-" + std::to_string(s.tgid), false);
    n->count += s.count;
    for (uint32_t idx : s.frames) {
      n = n->child(stacks.frames[idx].name, stacks.frames[idx].kernel);
      n->count += s.count;
    }
  }
  const size_t depth = depth_of(root);
  const double height = kHeader + static_cast<double>(depth) * kFrameHeight + 2 * kPad + 20;
  const double per_sample = root.count ? (kWidth - 2 * kPad) / static_cast<double>(root.count) : 0;

  out << "<?xml version=\"1.0\" standalone=\"no\"?>\n"
      << fmt::format("<svg version=\"1.1\" width=\"{}\" height=\"{}\" viewBox=\"0 0 {} {}\" "
                     "xmlns=\"http://www.w3.org/2000/svg\">\n",
                     kWidth, height, kWidth, height)
      << fmt::format("<script type=\"text/ecmascript\"><![CDATA[\nvar WIDTH = {}, PAD = {};\n{}]]></script>\n", kWidth,
                     kPad, kScript)
      << "<style>text { font-family: monospace; font-size: 12px; } #frames text { pointer-events: none; }"
         " rect { stroke: white; stroke-width: 0.5; } .button { cursor: pointer; fill: rgb(60,60,160); }</style>\n"
      << fmt::format("<rect x=\"0\" y=\"0\" width=\"{}\" height=\"{}\" fill=\"rgb(250,250,240)\"/>\n", kWidth, height)
      << fmt::format("<text x=\"{}\" y=\"22\" text-anchor=\"middle\" font-size=\"16\">{}</text>\n", kWidth / 2,
                     xml_escape(title))
      << fmt::format("<text class=\"button\" x=\"{}\" y=\"22\" onclick=\"reset()\">Reset zoom</text>\n", kPad)
      << fmt::format("<text class=\"button\" x=\"{}\" y=\"22\" onclick=\"search()\">Search</text>\n", kWidth - 110)
      << fmt::format("<text id=\"matched\" x=\"{}\" y=\"{}\"> </text>\n", kWidth - 200, height - 8)
      << fmt::format("<text id=\"details\" x=\"{}\" y=\"{}\"> </text>\n", kPad, height - 8) << "<g id=\"frames\">\n";

  // Depth-first layout: root at the bottom, children left to right by name.
  std::function<void(const Node&, double, size_t, bool)> draw = [&](const Node& n, double x, size_t level, bool is_root) {
    const double w = static_cast<double>(n.count) * per_sample;
    if (w < kMinWidthPx) return;
    const double y = height - kPad - 20 - static_cast<double>(level + 1) * kFrameHeight;
    const double share = root.count ? 100.0 * static_cast<double>(n.count) / static_cast<double>(root.count) : 0;
    const std::string name = n.name + (n.kernel ? " [k]" : "");
    const std::string fill = is_root ? "rgb(200,200,200)" : colour(n.name, n.kernel);
    const size_t fit = w > 6 ? static_cast<size_t>((w - 6) / 7) : 0;
    std::string label = fit < 3 ? "" : name.size() <= fit ? name : name.substr(0, fit - 2) + "..";
    out << fmt::format(
        "<g{} data-name=\"{}\"><title>{} ({} samples, {:.2f}%)</title>"
        "<rect x=\"{:.2f}\" y=\"{:.1f}\" width=\"{:.2f}\" height=\"{}\" fill=\"{}\" data-fill=\"{}\" data-x=\"{:.4f}\" "
        "data-w=\"{:.4f}\" rx=\"2\"/><text x=\"{:.2f}\" y=\"{:.1f}\">{}</text></g>\n",
        is_root ? " id=\"root\"" : "", xml_escape(name), xml_escape(name), n.count, share, x, y, w, kFrameHeight - 1,
        fill, fill, x, w, x + 3, y + kFrameHeight - 4, xml_escape(label));
    double child_x = x;
    for (const auto& [_, c] : n.children) {
      draw(*c, child_x, level + 1, false);
      child_x += static_cast<double>(c->count) * per_sample;
    }
  };
  draw(root, kPad, 0, true);
  out << "</g>\n</svg>\n";
}

}  // namespace perfbpf

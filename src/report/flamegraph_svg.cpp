#include "report/flamegraph_svg.h"

#include <fmt/format.h>

#include <functional>
#include <map>
#include <memory>

#include "report/assets.h"
#include "report/text_summary.h"

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

std::string amount(const StackProfile& stacks, uint64_t n) {
  return stacks.unit == "ns" ? format_duration_ns(static_cast<double>(n)) : fmt::format("{} samples", n);
}

}  // namespace

std::string flamegraph_svg_element(const StackProfile& stacks, const std::string& title) {
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
  const double per_unit = root.count ? (kWidth - 2 * kPad) / static_cast<double>(root.count) : 0;

  std::string out = fmt::format(
      "<svg class=\"perfbpf-flamegraph\" version=\"1.1\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" "
      "xmlns=\"http://www.w3.org/2000/svg\" data-width=\"{0}\" data-pad=\"{2}\" data-total=\"{3}\" data-unit=\"{4}\">\n",
      kWidth, height, kPad, root.count, xml_escape(stacks.unit));
  out += "<style>.perfbpf-flamegraph text { font-family: monospace; font-size: 12px; }"
         " .perfbpf-flamegraph .frames text { pointer-events: none; }"
         " .perfbpf-flamegraph .frames rect { stroke: white; stroke-width: 0.5; cursor: pointer; }"
         " .perfbpf-flamegraph .button { cursor: pointer; fill: rgb(60,60,160); }</style>\n";
  out += fmt::format("<rect x=\"0\" y=\"0\" width=\"{}\" height=\"{}\" fill=\"rgb(250,250,240)\"/>\n", kWidth, height);
  out += fmt::format("<text class=\"title\" x=\"{}\" y=\"22\" text-anchor=\"middle\" font-size=\"16\">{}</text>\n",
                     kWidth / 2, xml_escape(title));
  out += fmt::format("<text class=\"button reset\" x=\"{}\" y=\"22\">Reset zoom</text>\n", kPad);
  out += fmt::format("<text class=\"button search\" x=\"{}\" y=\"22\">Search</text>\n", kWidth - 110);
  out += fmt::format("<text class=\"matched\" x=\"{}\" y=\"{}\" text-anchor=\"end\"> </text>\n", kWidth - kPad, height - 8);
  out += fmt::format("<text class=\"details\" x=\"{}\" y=\"{}\"> </text>\n", kPad, height - 8);
  out += "<g class=\"frames\">\n";

  // Depth-first layout: root at the bottom, children left to right by name. X and W are in
  // the profile's unit (what the script computes with); pixels follow from them.
  std::function<void(const Node&, uint64_t, size_t, bool)> draw = [&](const Node& n, uint64_t x, size_t level,
                                                                     bool is_root) {
    const double w = static_cast<double>(n.count) * per_unit;
    if (w < kMinWidthPx) return;
    const double px = kPad + static_cast<double>(x) * per_unit;
    const double y = height - kPad - 20 - static_cast<double>(level + 1) * kFrameHeight;
    const double share = root.count ? 100.0 * static_cast<double>(n.count) / static_cast<double>(root.count) : 0;
    const std::string name = n.name + (n.kernel ? " [k]" : "");
    const std::string fill = is_root ? "rgb(200,200,200)" : colour(n.name, n.kernel);
    const size_t fit = w > 6 ? static_cast<size_t>((w - 6) / 7) : 0;
    std::string label = fit < 3 ? "" : name.size() <= fit ? name : name.substr(0, fit - 2) + "..";
    out += fmt::format(
        "<g data-name=\"{}\" data-x=\"{}\" data-w=\"{}\" data-depth=\"{}\"><title>{} ({}, {:.2f}%)</title>"
        "<rect x=\"{:.2f}\" y=\"{:.1f}\" width=\"{:.2f}\" height=\"{}\" fill=\"{}\" data-fill=\"{}\" rx=\"2\"/>"
        "<text x=\"{:.2f}\" y=\"{:.1f}\">{}</text></g>\n",
        xml_escape(name), x, n.count, level, xml_escape(name), amount(stacks, n.count), share, px, y, w,
        kFrameHeight - 1, fill, fill, px + 3, y + kFrameHeight - 4, xml_escape(label));
    uint64_t child_x = x;
    for (const auto& [_, c] : n.children) {
      draw(*c, child_x, level + 1, false);
      child_x += c->count;
    }
  };
  draw(root, 0, 0, true);
  out += "</g>\n</svg>\n";
  return out;
}

std::string flamegraph_svg_file(const StackProfile& stacks, const std::string& title) {
  std::string element = flamegraph_svg_element(stacks, title);
  // The script comes last, when every element it looks up exists.
  const std::string script = fmt::format(
      "<script type=\"text/ecmascript\"><![CDATA[\n{}\nperfbpfFlameGraph(document.documentElement);\n]]></script>\n",
      assets::flamegraph_js());
  element.insert(element.rfind("</svg>"), script);
  return "<?xml version=\"1.0\" standalone=\"no\"?>\n" + element;
}

void write_flamegraph_svg(const StackProfile& stacks, const std::string& title, std::ostream& out) {
  out << flamegraph_svg_file(stacks, title);
}

std::string flamegraph_title(const Profile& profile, bool off_cpu) {
  const SessionInfo& s = profile.session;
  std::string target = s.mode == "command" && !s.command.empty() ? s.command[0]
                       : s.mode == "system"                      ? std::string("system-wide")
                       : s.mode == "cgroup" ? "cgroup " + profile.system.cgroup
                                            : "pid " + std::to_string(s.pid);
  if (off_cpu)
    return fmt::format("Off-CPU: {} ({} waiting)", target, format_duration_ns(static_cast<double>(profile.off_cpu.samples)));
  return fmt::format("CPU: {} ({} samples at {} Hz)", target, profile.stacks.samples, profile.stacks.frequency_hz);
}

}  // namespace perfbpf

// Numeric options read as text and checked after parsing against session/session_limits.h, so
// that every subcommand's numbers get the same wording for a bad value.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <list>
#include <string>

#include <fmt/format.h>

#include "session/session_limits.h"

namespace perfbpf::cli {

// A numeric option is read as text and checked after parsing (session/session_limits.h), so
// every bad value — "abc", "nan", "1e308", "0.01" — gets one wording that names the option,
// the value and the valid range, before anything starts.
class NumericOptions {
 public:
  template <typename T>
  void add(CLI::App& app, const std::string& flags, T& target, const NumericRange& range, const std::string& help,
           bool show_default = true) {
    Entry& e = entries_.emplace_back();
    e.range = range;
    e.store = [&target](double v) { target = static_cast<T>(v); };
    e.option = app.add_option(flags, e.text, help + " [" + format_range(range) + "]");
    if (show_default) e.option->default_str(fmt::format("{}", target));
    e.option->type_name(range.integer ? "INT" : "NUMBER");
  }
  // Throws Error::usage for the first bad value given; stores the good ones.
  void check_and_store() const {
    for (const Entry& e : entries_)
      if (e.option->count() > 0) e.store(parse_in_range("--" + e.option->get_single_name(), e.text, e.range));
  }

 private:
  struct Entry {
    std::string text;
    NumericRange range{};
    std::function<void(double)> store;
    CLI::Option* option = nullptr;
  };
  std::list<Entry> entries_;  // CLI11 keeps pointers to each text: no reallocation
};

}  // namespace perfbpf::cli

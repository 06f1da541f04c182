// The report of a running session as the server shows it: the latest snapshot, published by
// the session's thread each interval, read by the server's threads. Each view (JSON, metrics,
// HTML, flame graphs) is rendered once per snapshot, on the first request that wants it, so
// a busy scraper costs one rendering an interval, never the session's thread.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "perfbpf/profile.h"

namespace perfbpf {

class LiveReport {
 public:
  // The session's thread: the report so far. OTHERS are further sessions whose functions
  // /metrics adds (the agent's per-process ones).
  void publish(Profile snapshot, std::vector<Profile> others = {});
  bool has_snapshot() const;
  // Copies the snapshot into memory allocated now, by the calling thread, and frees the
  // old copy. The agent calls it between periods, once the period's sessions are gone: the
  // snapshot was built on a session's thread among everything that session allocated, and
  // kept there its thousands of small blocks would pin pages scattered over the freed heap
  // that malloc_trim() cannot hand back. Rendered views are dropped too (they are rendered
  // again on the next request). Readers are not disturbed: they hold their own reference.
  void relocate();
  uint64_t version() const;  // increases with each publish; 0 before the first

  // Renders with RENDER (once per snapshot and KEY) and returns the text; "" before the
  // first snapshot.
  using Renderer = std::function<std::string(const Profile& main, const std::vector<Profile>& others)>;
  std::shared_ptr<const std::string> view(const std::string& key, const Renderer& render);

 private:
  struct Snapshot {
    Profile main;
    std::vector<Profile> others;
  };
  mutable std::mutex mutex_;
  std::shared_ptr<const Snapshot> latest_;
  uint64_t version_ = 0;
  // Rendered views of snapshot version_ (cleared on publish).
  std::mutex render_mutex_;
  std::map<std::string, std::pair<uint64_t, std::shared_ptr<const std::string>>> views_;
};

}  // namespace perfbpf

#include "serve/live_report.h"

namespace perfbpf {

void LiveReport::publish(Profile snapshot, std::vector<Profile> others) {
  auto s = std::make_shared<const Snapshot>(Snapshot{std::move(snapshot), std::move(others)});
  std::lock_guard lock(mutex_);
  latest_ = std::move(s);
  version_++;
}

void LiveReport::relocate() {
  std::shared_ptr<const Snapshot> old;
  {
    std::lock_guard lock(mutex_);
    old = latest_;
  }
  if (!old) return;
  auto fresh = std::make_shared<const Snapshot>(*old);
  {
    std::lock_guard lock(mutex_);
    // Unless a publish came in between: then the newer one stays.
    if (latest_ == old) latest_ = std::move(fresh);
  }
  std::lock_guard lock(render_mutex_);
  views_.clear();
}

bool LiveReport::has_snapshot() const {
  std::lock_guard lock(mutex_);
  return latest_ != nullptr;
}

uint64_t LiveReport::version() const {
  std::lock_guard lock(mutex_);
  return version_;
}

std::shared_ptr<const std::string> LiveReport::view(const std::string& key, const Renderer& render) {
  std::shared_ptr<const Snapshot> snapshot;
  uint64_t version;
  {
    std::lock_guard lock(mutex_);
    snapshot = latest_;
    version = version_;
  }
  if (!snapshot) return std::make_shared<const std::string>();
  // One rendering per snapshot and view; concurrent requests for it wait for that one.
  std::lock_guard lock(render_mutex_);
  auto& [rendered_version, text] = views_[key];
  if (!text || rendered_version != version) {
    text = std::make_shared<const std::string>(render(snapshot->main, snapshot->others));
    rendered_version = version;
  }
  return text;
}

}  // namespace perfbpf

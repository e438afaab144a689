// The one delta function for energy counters, shared by the sampler thread and the JS export.
#pragma once

#include <cstdint>
#include <optional>

namespace splitwatt {

/**
 * cur - prev when the counter moved forward; across one wrap when maxRange > 0, prev is
 * below maxRange and the wrapped delta (maxRange - prev) + cur is at most maxRange / 2;
 * otherwise nullopt (the counter was reset: drop the interval, never go negative).
 */
inline std::optional<uint64_t> EnergyDelta(uint64_t prev, uint64_t cur, uint64_t maxRange) noexcept {
  if (cur >= prev) return cur - prev;
  if (maxRange > 0 && prev < maxRange) {
    // cur < prev < maxRange, so this cannot overflow.
    const uint64_t wrapped = (maxRange - prev) + cur;
    if (wrapped <= maxRange / 2) return wrapped;
  }
  return std::nullopt;
}

}  // namespace splitwatt

#pragma once

namespace orchard {

inline constexpr const char* kVersion = "0.1.0";

}  // namespace orchard

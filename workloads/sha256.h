// SHA-256 (FIPS 180-4), for the run manifest's scenario hash: a reader of two statistics files
// can tell whether they came from the same scenario text.
#pragma once

#include <string>
#include <string_view>

namespace mmemu {

// The digest of `data` as 64 lowercase hex digits.
std::string sha256_hex(std::string_view data);

} // namespace mmemu

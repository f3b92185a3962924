// Lazily backed host memory for large emulator arrays (emulated RAM, mem_map): one anonymous
// MAP_NORESERVE mapping advised MADV_HUGEPAGE. Untouched parts read as zero and cost nothing.
#pragma once

#include <cstddef>
#include <cstdint>

namespace mmemu {

// Throws std::runtime_error naming `what` if the host refuses.
void* reserve_lazy_host_memory(uint64_t bytes, const char* what);
void release_lazy_host_memory(void* p, uint64_t bytes);

// Resident set size of this process in bytes (from /proc/self/statm), 0 if unknown.
uint64_t host_rss_bytes();

} // namespace mmemu

#include "mmcore/mem_map.h"

#include <type_traits>

#include "emulator/host_memory.h"

namespace mmemu {

// The lazily reserved array reads as all-zero bytes, which is a valid free, unmapped page
// (see page.h); nothing needs constructing.
static_assert(std::is_trivially_destructible_v<page>);

void MemMap::init(uint64_t nr_pages) {
    if (base_) release_lazy_host_memory(base_, nr_ * sizeof(page));
    nr_ = nr_pages;
    base_ = static_cast<page*>(reserve_lazy_host_memory(nr_pages * sizeof(page), "mem_map"));
}

MemMap::~MemMap() {
    release_lazy_host_memory(base_, nr_ * sizeof(page));
}

} // namespace mmemu

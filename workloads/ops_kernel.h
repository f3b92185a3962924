// The kernel allocator op family (docs/scenario-format.md, "events"): alloc_pages, free_pages,
// kmem_cache_create / _alloc / _free / _shrink / _destroy, kmalloc, kfree, write_object,
// drain_pages. Allocations are named by ids, resolved to small slots when the scenario compiles,
// so a free of something never allocated, a double free or a use of a destroyed cache is a
// compile error.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "workloads/op.h"

namespace mmemu {

struct kmem_cache;

// What each id and cache name refers to while the events compile.
struct KernelNames {
    enum class State : uint8_t { live, freed };
    enum class Kind : uint8_t { pages, object, kmalloc };
    struct Handle {
        uint32_t slot;
        State state;
        Kind kind;
        uint32_t cache; // object: the cache slot
        uint32_t event; // where it was allocated
        bool zero_size; // kmalloc(0): ZERO_SIZE_PTR
    };
    struct Cache {
        uint32_t slot;
        bool destroyed;
    };
    std::map<std::string, Handle> handles;
    std::map<std::string, Cache> caches;
    std::vector<std::string> handle_names; // slot -> id
    std::vector<std::string> cache_names;  // slot -> name
};

// What the kernel ops hold while a scenario runs.
struct KernelRunState {
    static constexpr uint64_t NO_BLOCK = ~uint64_t{0};
    struct Slot {
        std::vector<uint64_t> items; // first pfns (pages) or object addresses; only successes
        uint8_t order = 0;           // pages: the order of every block
        bool pages = false;
    };
    std::vector<Slot> slots;
    std::vector<kmem_cache*> caches;
    const KernelNames* names = nullptr;
    // Blocks of pages the scenario holds: (first pfn, order), for the frame audit.
    std::vector<std::pair<uint64_t, unsigned>> held_blocks() const;
};

const std::vector<OpSpec>& kernel_op_specs();

} // namespace mmemu

// A process on a booted machine (x86_64 unless given) for the address-space tests: one task,
// current on CPU 0, with an empty mm, and user-mode accesses through the CPU.
#pragma once

#include <catch2/catch.hpp>

#include "mmcore/address_spaces.h"
#include "test_helpers.h"

namespace mmemu::test {

inline uint64_t live_objects(const kmem_cache* c) {
    const auto& s = c->stats;
    return (s.allochit + s.allocmiss) - (s.freehit + s.freemiss);
}

struct Proc {
    Booted b;
    AddressSpaces& as = b.k.spaces;
    task_struct t;
    explicit Proc(const MachineConfig& mc = machine(Arch::x86_64, 1 * GiB),
                  const KernelConfig& kc = KernelConfig{})
        : b(mc, kc) {
        t.pid = 1;
        t.mm = as.mm_alloc(0);
        REQUIRE(t.mm);
        as.set_current(0, &t);
    }
    MemoryAccess write(uint64_t la, uint8_t v) {
        return b.m.cpu(0).write_linear(LinearAddr{la}, &v, 1, AccessMode{3, false});
    }
    MemoryAccess read(uint64_t la, uint8_t& v) {
        return b.m.cpu(0).read_linear(LinearAddr{la}, &v, 1, AccessMode{3, false});
    }
    uint64_t free_pages() const { return b.k.buddy.nr_free_pages() + b.k.buddy.nr_pcp_pages(); }
};

constexpr uint64_t MMAP_BASE = 0x7ffff7fff000; // PAGE_ALIGN(TASK_SIZE - 128 MiB), 4-level
constexpr int RW = PROT_READ | PROT_WRITE;
constexpr int ANON = MAP_PRIVATE | MAP_ANONYMOUS;

} // namespace mmemu::test

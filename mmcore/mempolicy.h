// NUMA memory policies (mm/mempolicy.c, include/uapi/linux/mempolicy.h, Linux 6.18): a task's
// (set_mempolicy) and a VMA's (mbind), and where each sends a page fault's allocation.
// Facts and sources: docs/dev/mempolicy-facts.md.
#pragma once

#include <cstdint>
#include <string>

namespace mmemu {

// enum mempolicy_mode (uapi), with its values.
enum class MpolMode : uint8_t {
    DEFAULT = 0,
    PREFERRED = 1,
    BIND = 2,
    INTERLEAVE = 3,
    LOCAL = 4,
    PREFERRED_MANY = 5,
    WEIGHTED_INTERLEAVE = 6,
};

// Mode flags (uapi): OR'ed into set_mempolicy's and mbind's mode.
inline constexpr unsigned MPOL_F_STATIC_NODES = 1u << 15;
inline constexpr unsigned MPOL_F_RELATIVE_NODES = 1u << 14;
inline constexpr unsigned MPOL_F_NUMA_BALANCING = 1u << 13;

// struct mempolicy: a mode, its mode flags and its nodes (a bit per node). A VMA or task without
// one has none (vma->vm_policy / task->mempolicy NULL); `set` says whether this one is there.
struct mempolicy {
    bool set = false;
    MpolMode mode = MpolMode::DEFAULT;
    unsigned flags = 0; // MPOL_F_STATIC_NODES, MPOL_F_RELATIVE_NODES, MPOL_F_NUMA_BALANCING
    uint64_t nodes = 0; // pol->nodes (empty for LOCAL)
};

// mpol_to_str(): the policy as /proc/PID/numa_maps shows it ("default", "prefer:1",
// "bind:0-1", "interleave=static:0,2"...). A VMA without a policy shows its task's.
std::string mpol_to_str(const mempolicy& p);

// The nodes of `mask` as the kernel's %*pbl prints them: "0-1,3".
std::string nodelist_str(uint64_t mask);

// The mode's name in the uapi ("MPOL_BIND").
const char* mpol_mode_name(MpolMode m);

} // namespace mmemu

// The "nothing lost" invariant over physical frames: every pfn below max_pfn has exactly one
// owner. Each part of the kernel lists the frames it owns as ranges (reserved at boot, free in a
// buddy or pcp list, a slab, a block a caller holds); the ranges, sorted, must tile
// [0, max_pfn) with no gap (a frame lost) and no overlap (a frame owned twice). The cost is in
// the number of ranges, not of frames, so auditing a fresh 256 GiB machine (a few hundred
// thousand free blocks) costs less than booting it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "emulator/addr.h"

namespace mmemu {

struct OwnedFrames {
    Pfn start;              // first frame
    Pfn end;                // last frame + 1
    const char* owner = ""; // "reserved", "buddy free list", "pcp list", "slab", "held"
    uint64_t detail = 0;    // the order of a free block, the cache id of a slab, ...
};

// "" if `ranges` tile [0, max_pfn) exactly, else the first gap or overlap in words. Sorts them.
std::string check_frames_owned_once(std::vector<OwnedFrames>& ranges, Pfn max_pfn);

} // namespace mmemu

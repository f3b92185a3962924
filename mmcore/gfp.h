// GFP flags with the bit values of Linux 6.1 (include/linux/gfp_types.h), the composite masks
// built from them, gfp_zone() and gfp_migratetype().
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "mmcore/mmzone.h"

namespace mmemu {

using gfp_t = uint32_t;

inline constexpr gfp_t __GFP_DMA = 0x01;
inline constexpr gfp_t __GFP_HIGHMEM = 0x02;
inline constexpr gfp_t __GFP_DMA32 = 0x04;
inline constexpr gfp_t __GFP_MOVABLE = 0x08;
inline constexpr gfp_t __GFP_RECLAIMABLE = 0x10;
inline constexpr gfp_t __GFP_HIGH = 0x20;
inline constexpr gfp_t __GFP_IO = 0x40;
inline constexpr gfp_t __GFP_FS = 0x80;
inline constexpr gfp_t __GFP_ZERO = 0x100;
inline constexpr gfp_t __GFP_ATOMIC = 0x200;
inline constexpr gfp_t __GFP_DIRECT_RECLAIM = 0x400;
inline constexpr gfp_t __GFP_KSWAPD_RECLAIM = 0x800;
inline constexpr gfp_t __GFP_WRITE = 0x1000;
inline constexpr gfp_t __GFP_NOWARN = 0x2000;
inline constexpr gfp_t __GFP_RETRY_MAYFAIL = 0x4000;
inline constexpr gfp_t __GFP_NOFAIL = 0x8000;
inline constexpr gfp_t __GFP_NORETRY = 0x10000;
inline constexpr gfp_t __GFP_MEMALLOC = 0x20000;
inline constexpr gfp_t __GFP_COMP = 0x40000;
inline constexpr gfp_t __GFP_NOMEMALLOC = 0x80000;
inline constexpr gfp_t __GFP_HARDWALL = 0x100000;
inline constexpr gfp_t __GFP_THISNODE = 0x200000;
inline constexpr gfp_t __GFP_ACCOUNT = 0x400000;

inline constexpr gfp_t __GFP_RECLAIM = __GFP_DIRECT_RECLAIM | __GFP_KSWAPD_RECLAIM;
inline constexpr gfp_t GFP_ZONEMASK = __GFP_DMA | __GFP_HIGHMEM | __GFP_DMA32 | __GFP_MOVABLE;
inline constexpr gfp_t GFP_MOVABLE_MASK = __GFP_RECLAIMABLE | __GFP_MOVABLE;
inline constexpr unsigned GFP_MOVABLE_SHIFT = 3;

inline constexpr gfp_t GFP_ATOMIC = __GFP_HIGH | __GFP_ATOMIC | __GFP_KSWAPD_RECLAIM;
inline constexpr gfp_t GFP_KERNEL = __GFP_RECLAIM | __GFP_IO | __GFP_FS;
inline constexpr gfp_t GFP_NOWAIT = __GFP_KSWAPD_RECLAIM;
inline constexpr gfp_t GFP_NOIO = __GFP_RECLAIM;
inline constexpr gfp_t GFP_NOFS = __GFP_RECLAIM | __GFP_IO;
inline constexpr gfp_t GFP_USER = __GFP_RECLAIM | __GFP_IO | __GFP_FS | __GFP_HARDWALL;
inline constexpr gfp_t GFP_DMA = __GFP_DMA;
inline constexpr gfp_t GFP_DMA32 = __GFP_DMA32;
inline constexpr gfp_t GFP_HIGHUSER = GFP_USER | __GFP_HIGHMEM;
inline constexpr gfp_t GFP_HIGHUSER_MOVABLE = GFP_HIGHUSER | __GFP_MOVABLE;

// gfp_migratetype(): MIGRATE_UNMOVABLE, MIGRATE_MOVABLE or MIGRATE_RECLAIMABLE.
inline migratetype gfp_migratetype(gfp_t gfp) {
    return migratetype((gfp & GFP_MOVABLE_MASK) >> GFP_MOVABLE_SHIFT);
}

// gfp_zone(): the highest zone type an allocation may use. Zones the arch does not have fold
// down as in the kernel (ZONE_DMA32 is ZONE_NORMAL on 32-bit, ZONE_HIGHMEM is ZONE_NORMAL on
// 64-bit); `layout` maps the result to an index in the node's zone array.
zone_type gfp_zone_type(gfp_t gfp, const ZoneLayout& layout);

// Parses "GFP_KERNEL | __GFP_ZERO" (names joined by '|', spaces ignored). On error returns
// nullopt and sets `error` to a message naming the bad part.
std::optional<gfp_t> parse_gfp(std::string_view text, std::string& error);
// Checks a mask for combinations the kernel rejects (GFP_ZONE_BAD, both mobility bits, flags
// mmemu cannot honour); returns an empty string when valid.
std::string gfp_problem(gfp_t gfp);
// "GFP_KERNEL|__GFP_ZERO"-style rendering (greedy on the composite names).
std::string gfp_to_string(gfp_t gfp);

} // namespace mmemu

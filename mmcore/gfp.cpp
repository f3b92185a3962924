#include "mmcore/gfp.h"

#include <array>
#include <utility>

namespace mmemu {

namespace {

struct GfpName {
    std::string_view name;
    gfp_t value;
};

// Composite masks first so gfp_to_string() prints the familiar names.
constexpr std::array<GfpName, 35> kGfpNames{{
    {"GFP_HIGHUSER_MOVABLE", GFP_HIGHUSER_MOVABLE},
    {"GFP_HIGHUSER", GFP_HIGHUSER},
    {"GFP_USER", GFP_USER},
    {"GFP_KERNEL", GFP_KERNEL},
    {"GFP_NOFS", GFP_NOFS},
    {"GFP_NOIO", GFP_NOIO},
    {"GFP_ATOMIC", GFP_ATOMIC},
    {"GFP_NOWAIT", GFP_NOWAIT},
    {"GFP_DMA32", GFP_DMA32},
    {"GFP_DMA", GFP_DMA},
    {"__GFP_RECLAIM", __GFP_RECLAIM},
    {"__GFP_DMA", __GFP_DMA},
    {"__GFP_HIGHMEM", __GFP_HIGHMEM},
    {"__GFP_DMA32", __GFP_DMA32},
    {"__GFP_MOVABLE", __GFP_MOVABLE},
    {"__GFP_RECLAIMABLE", __GFP_RECLAIMABLE},
    {"__GFP_HIGH", __GFP_HIGH},
    {"__GFP_IO", __GFP_IO},
    {"__GFP_FS", __GFP_FS},
    {"__GFP_ZERO", __GFP_ZERO},
    {"__GFP_ATOMIC", __GFP_ATOMIC},
    {"__GFP_DIRECT_RECLAIM", __GFP_DIRECT_RECLAIM},
    {"__GFP_KSWAPD_RECLAIM", __GFP_KSWAPD_RECLAIM},
    {"__GFP_WRITE", __GFP_WRITE},
    {"__GFP_NOWARN", __GFP_NOWARN},
    {"__GFP_RETRY_MAYFAIL", __GFP_RETRY_MAYFAIL},
    {"__GFP_NOFAIL", __GFP_NOFAIL},
    {"__GFP_NORETRY", __GFP_NORETRY},
    {"__GFP_MEMALLOC", __GFP_MEMALLOC},
    {"__GFP_COMP", __GFP_COMP},
    {"__GFP_NOMEMALLOC", __GFP_NOMEMALLOC},
    {"__GFP_HARDWALL", __GFP_HARDWALL},
    {"__GFP_THISNODE", __GFP_THISNODE},
    {"__GFP_ACCOUNT", __GFP_ACCOUNT},
    {"0", 0},
}};

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

} // namespace

zone_type gfp_zone_type(gfp_t gfp, const ZoneLayout& layout) {
    const bool has_dma32 = layout.index_of(zone_type::DMA32) != layout.index_of(zone_type::NORMAL);
    const bool has_highmem =
        layout.index_of(zone_type::HIGHMEM) != layout.index_of(zone_type::NORMAL);
    // include/linux/gfp.h GFP_ZONE_TABLE: the zone bits other than __GFP_MOVABLE pick the zone;
    // __GFP_MOVABLE alone stays in ZONE_NORMAL, with __GFP_HIGHMEM it selects ZONE_MOVABLE.
    if (gfp & __GFP_DMA) return zone_type::DMA;
    if (gfp & __GFP_DMA32) return has_dma32 ? zone_type::DMA32 : zone_type::NORMAL;
    if (gfp & __GFP_HIGHMEM) {
        if (gfp & __GFP_MOVABLE) return zone_type::MOVABLE;
        return has_highmem ? zone_type::HIGHMEM : zone_type::NORMAL;
    }
    return zone_type::NORMAL;
}

std::optional<gfp_t> parse_gfp(std::string_view text, std::string& error) {
    gfp_t gfp = 0;
    bool any = false;
    while (true) {
        size_t bar = text.find('|');
        std::string_view part = trim(text.substr(0, bar));
        if (part.empty()) {
            error = "an empty GFP flag name";
            return std::nullopt;
        }
        bool found = false;
        for (const auto& n : kGfpNames)
            if (n.name == part) {
                gfp |= n.value;
                found = true;
                break;
            }
        if (!found) {
            error = "unknown GFP flag '" + std::string(part) + "'";
            return std::nullopt;
        }
        any = true;
        if (bar == std::string_view::npos) break;
        text.remove_prefix(bar + 1);
    }
    if (!any) {
        error = "no GFP flags";
        return std::nullopt;
    }
    return gfp;
}

std::string gfp_problem(gfp_t gfp) {
    const int zone_bits = !!(gfp & __GFP_DMA) + !!(gfp & __GFP_DMA32) + !!(gfp & __GFP_HIGHMEM);
    if (zone_bits > 1)
        return "more than one of __GFP_DMA, __GFP_DMA32, __GFP_HIGHMEM (GFP_ZONE_BAD)";
    if ((gfp & GFP_MOVABLE_MASK) == GFP_MOVABLE_MASK)
        return "both __GFP_MOVABLE and __GFP_RECLAIMABLE";
    if (gfp & __GFP_NOFAIL)
        return "__GFP_NOFAIL is not supported (mmemu has no reclaim to retry with)";
    return {};
}

std::string gfp_to_string(gfp_t gfp) {
    if (gfp == 0) return "0";
    std::string out;
    gfp_t left = gfp;
    for (const auto& n : kGfpNames) {
        if (n.value == 0 || (n.value & left) != n.value) continue;
        if (!out.empty()) out += '|';
        out += n.name;
        left &= ~n.value;
        if (!left) break;
    }
    return out;
}

} // namespace mmemu

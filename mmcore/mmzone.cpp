#include "mmcore/mmzone.h"

namespace mmemu {

std::string_view migratetype_name(unsigned mt) {
    // mm/vmstat.c migratetype_names[] (without CONFIG_CMA).
    static constexpr std::string_view names[] = {"Unmovable", "Movable", "Reclaimable",
                                                 "HighAtomic", "Isolate"};
    return mt < MIGRATE_TYPES ? names[mt] : "?";
}

std::string_view zone_type_name(zone_type t) {
    switch (t) {
    case zone_type::DMA:
        return "DMA";
    case zone_type::DMA32:
        return "DMA32";
    case zone_type::NORMAL:
        return "Normal";
    case zone_type::HIGHMEM:
        return "HighMem";
    case zone_type::MOVABLE:
        return "Movable";
    }
    return "?";
}

ZoneLayout ZoneLayout::for_arch(Arch a) {
    if (a == Arch::x86_64)
        return {{zone_type::DMA, zone_type::DMA32, zone_type::NORMAL, zone_type::MOVABLE}};
    return {{zone_type::DMA, zone_type::NORMAL, zone_type::HIGHMEM, zone_type::MOVABLE}};
}

unsigned ZoneLayout::index_of(zone_type t) const {
    for (unsigned i = 0; i < MAX_NR_ZONES; i++)
        if (types[i] == t) return i;
    // Folded types (gfp_zone's OPT_ZONE_DMA32 / OPT_ZONE_HIGHMEM): ZONE_NORMAL.
    return index_of(zone_type::NORMAL);
}

std::string_view zone_stat_name(unsigned item) {
    // mm/vmstat.c vmstat_text[], zone items.
    static constexpr std::string_view names[] = {"nr_free_pages",
                                                 "nr_zone_inactive_anon",
                                                 "nr_zone_active_anon",
                                                 "nr_zone_inactive_file",
                                                 "nr_zone_active_file",
                                                 "nr_zone_unevictable",
                                                 "nr_zone_write_pending",
                                                 "nr_mlock",
                                                 "nr_bounce",
                                                 "nr_free_cma"};
    return item < NR_VM_ZONE_STAT_ITEMS ? names[item] : "?";
}

} // namespace mmemu

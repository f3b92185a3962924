#include "mmcore/vmstat.h"

#include <cstdio>

namespace mmemu {

contig_page_info fill_contig_page_info(const zone& z, unsigned suitable_order) {
    contig_page_info info;
    for (unsigned order = 0; order < NR_PAGE_ORDERS; order++) {
        const uint64_t blocks = z.free_area[order].nr_free;
        info.free_blocks_total += blocks;
        info.free_pages += blocks << order;
        if (order >= suitable_order)
            info.free_blocks_suitable += blocks << (order - suitable_order);
    }
    return info;
}

int unusable_free_index(unsigned order, const contig_page_info& info) {
    // No free memory is interpreted as all free memory is unusable.
    if (info.free_pages == 0) return 1000;
    return int((info.free_pages - (info.free_blocks_suitable << order)) * 1000 / info.free_pages);
}

int fragmentation_index(unsigned order, const contig_page_info& info) {
    const uint64_t requested = uint64_t{1} << order;
    if (info.free_blocks_total == 0) return 0;
    // Fragmentation index only makes sense when a request would fail.
    if (info.free_blocks_suitable) return -1000;
    // 0 => allocation would fail due to lack of memory, 1000 => due to fragmentation.
    return int(1000 - (1000 + (info.free_pages * 1000 / requested)) / info.free_blocks_total);
}

// mm/vmstat.c (Linux 6.1) prints each value as index / 1000 and index % 1000 with C's
// truncating division: unusable_show_print() with "%d.%03d ", extfrag_show_print() with
// "%2d.%03d " (the width since 5.16). A negative fragmentation index other than -1000 prints as
// the kernel prints it, " 0.-500" (the same C expressions here, so the same text).
std::string format_unusable_index(int value) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%d.%03d", value / 1000, value % 1000);
    return buf;
}

std::string format_extfrag_index(int value) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%2d.%03d", value / 1000, value % 1000);
    return buf;
}

} // namespace mmemu

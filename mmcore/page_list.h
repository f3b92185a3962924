// Lists of pages in mem_map (buddy free_list, pcp lists), linked through page::lru_next/lru_prev
// and indexed by page frame number.
#pragma once

#include "mmcore/index_list.h"
#include "mmcore/mem_map.h"

namespace mmemu {

using page_list = basic_index_list<Pfn>;
// What a page list gives for "none" (the head of an empty list).
inline constexpr Pfn PFN_NIL = page_list::nil();

} // namespace mmemu

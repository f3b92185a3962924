// Lists of pages in mem_map (buddy free_list, pcp lists), linked through page::lru_next/lru_prev.
#pragma once

#include "mmcore/index_list.h"
#include "mmcore/mem_map.h"

namespace mmemu {

using page_list = index_list;

} // namespace mmemu

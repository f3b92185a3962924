// /sys/kernel/mm/ksm's writable files (mm/ksm.c *_store, Linux 6.18; docs/dev/ksm-facts.md
// section 9): each knob's name, the parser the kernel reads it with (which bounds what can be
// written at all), and its default. Ksm::store_knob applies the kernel's write rules.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace mmemu {

enum class KsmKnob : uint8_t {
    max_page_sharing,
    merge_across_nodes,
    pages_to_scan,
    sleep_millisecs,
    stable_node_chains_prune_millisecs,
    use_zero_pages,
    smart_scan,
    advisor_mode,
    advisor_max_cpu,
    advisor_min_pages_to_scan,
    advisor_max_pages_to_scan,
    advisor_target_scan_time,
    run, // last: a scenario's writes of several knobs in one event end with run
};
inline constexpr unsigned NR_KSM_KNOBS = unsigned(KsmKnob::run) + 1;

// The kernel's parser for the file: what a write can hold before the store's own rules.
enum class KnobParser : uint8_t {
    uint_,  // kstrtouint: 0 .. UINT_MAX
    int_,   // kstrtoint: INT_MIN .. INT_MAX
    ulong_, // kstrtoul: 0 .. ULONG_MAX (32 bits on i386); its bits travel in an int64_t
    bool_,  // kstrtobool: 0 or 1 (y/n, on/off)
    mode,   // advisor_mode: "none" or "scan-time"
};

struct KsmKnobSpec {
    KsmKnob knob;
    const char* name;
    KnobParser parser;
    const char* doc;
};

// In KsmKnob's order.
const KsmKnobSpec (&ksm_knob_specs())[NR_KSM_KNOBS];
std::optional<KsmKnob> find_ksm_knob(const std::string& name);

} // namespace mmemu

// /sys/kernel/mm/ksm's writes (mm/ksm.c *_store, Linux 6.18; docs/dev/ksm-facts.md sections 4,
// 9 and 11): the knob table and each file's rules, with the wake-ups some writes make.
#include "ksm/ksm_knobs.h"

#include <cerrno>

#include "ksm/ksm.h"

namespace mmemu {

const KsmKnobSpec (&ksm_knob_specs())[NR_KSM_KNOBS] {
    static const KsmKnobSpec specs[NR_KSM_KNOBS] = {
        {KsmKnob::max_page_sharing, "max_page_sharing", KnobParser::int_,
         "the most mappings of one KSM page (default 256; at least 2; EBUSY while KSM pages "
         "exist)"},
        {KsmKnob::merge_across_nodes, "merge_across_nodes", KnobParser::ulong_,
         "1: one tree for all NUMA nodes (default); 0: a tree per node (EBUSY while KSM pages "
         "exist; no such file on i386, which has no CONFIG_NUMA)"},
        {KsmKnob::pages_to_scan, "pages_to_scan", KnobParser::uint_,
         "pages per ksmd batch (default 100; EINVAL while the advisor is on)"},
        {KsmKnob::sleep_millisecs, "sleep_millisecs", KnobParser::uint_,
         "ksmd's sleep between batches (default 20; a change wakes ksmd)"},
        {KsmKnob::stable_node_chains_prune_millisecs, "stable_node_chains_prune_millisecs",
         KnobParser::uint_, "how often a chain's stale dups are pruned (default 2000)"},
        {KsmKnob::use_zero_pages, "use_zero_pages", KnobParser::bool_,
         "merge zero-filled pages with the zero page (default 0)"},
        {KsmKnob::smart_scan, "smart_scan", KnobParser::bool_,
         "skip pages that did not merge for a while (default 1)"},
        {KsmKnob::advisor_mode, "advisor_mode", KnobParser::mode,
         "\"none\" (default) or \"scan-time\": the advisor sets pages_to_scan"},
        {KsmKnob::advisor_max_cpu, "advisor_max_cpu", KnobParser::ulong_,
         "the advisor's cap on ksmd's CPU use, percent (default 70)"},
        {KsmKnob::advisor_min_pages_to_scan, "advisor_min_pages_to_scan", KnobParser::ulong_,
         "the advisor's lowest pages_to_scan (default 500)"},
        {KsmKnob::advisor_max_pages_to_scan, "advisor_max_pages_to_scan", KnobParser::ulong_,
         "the advisor's highest pages_to_scan (default 30000)"},
        {KsmKnob::advisor_target_scan_time, "advisor_target_scan_time", KnobParser::ulong_,
         "the advisor's target seconds per full scan (default 200; at least 1)"},
        {KsmKnob::run, "run", KnobParser::uint_,
         "0 stop, 1 run ksmd, 2 stop and unmerge everything (default 0)"},
    };
    return specs;
}

std::optional<KsmKnob> find_ksm_knob(const std::string& name) {
    for (const KsmKnobSpec& s : ksm_knob_specs())
        if (name == s.name) return s.knob;
    return std::nullopt;
}

// run_store(): a change of value is stored; 2 (unless run is 2 already) unmerges everything
// first, and an error there leaves run at 0. Bit 0 wakes ksmd's idle wait, changed or not.
int Ksm::run_store(unsigned v, unsigned cpu) {
    if (v > 2) return -EINVAL;
    if (v != knobs_.run) {
        knobs_.run = v;
        if (v == 2) {
            if (const int e = unmerge_and_remove_all_rmap_items(cpu); e) {
                knobs_.run = 0;
                return e;
            }
        }
    }
    if (v & 1) katomic::set(wakeups_.thread_wait, true);
    return 0;
}

int Ksm::store_max_page_sharing(int64_t v, unsigned cpu) {
    ksm_percall::cpu = cpu;
    if (v < 2) return -EINVAL;
    if (uint64_t(v) == knobs_.max_page_sharing) return 0;
    if (pages_shared_ || remove_all_stable_nodes()) return -EBUSY;
    knobs_.max_page_sharing = unsigned(v);
    stable_gen_++; // which dups are sharing candidates
    return 0;
}

int Ksm::store_merge_across_nodes(uint64_t v, unsigned cpu) {
    ksm_percall::cpu = cpu;
    if (!is_64bit_) return -ENOENT;
    if (v > 1) return -EINVAL;
    if (bool(v) == knobs_.merge_across_nodes) return 0;
    if (pages_shared_ || remove_all_stable_nodes()) return -EBUSY;
    knobs_.merge_across_nodes = v;
    return 0;
}

// set_advisor_defaults(): choosing scan-time starts the advisor afresh (its context zeroed) from
// advisor_min_pages_to_scan; choosing none puts pages_to_scan back to 100 and keeps the context.
// Writing the mode in force changes nothing.
void Ksm::store_advisor_mode(bool scan_time) {
    if (scan_time == knobs_.advisor_scan_time) return;
    knobs_.advisor_scan_time = scan_time;
    if (scan_time) advisor_ = {};
    knobs_.pages_to_scan = scan_time ? unsigned(knobs_.advisor_min_pages_to_scan) : 100;
}

// Every write holds ksm_thread_mutex (in 6.18, run, merge_across_nodes, max_page_sharing,
// sleep_millisecs and advisor_mode take it; the others are single stores, which it does not
// change).
int Ksm::store_knob(KsmKnob k, int64_t v, unsigned cpu) {
    const LockGuard<kernel_mutex> locked(ksm_thread_mutex_);
    switch (k) {
    case KsmKnob::run: return run_store(unsigned(v), cpu);
    case KsmKnob::max_page_sharing: return store_max_page_sharing(v, cpu);
    case KsmKnob::merge_across_nodes: return store_merge_across_nodes(uint64_t(v), cpu);
    case KsmKnob::pages_to_scan:
        if (knobs_.advisor_scan_time) return -EINVAL; // before the value is even parsed
        knobs_.pages_to_scan = unsigned(v);
        return 0;
    case KsmKnob::sleep_millisecs:
        knobs_.sleep_millisecs = unsigned(v);
        katomic::set(wakeups_.iter_wait, true);
        return 0;
    case KsmKnob::stable_node_chains_prune_millisecs:
        knobs_.stable_node_chains_prune_millisecs = unsigned(v);
        return 0;
    case KsmKnob::use_zero_pages: knobs_.use_zero_pages = v != 0; return 0;
    case KsmKnob::smart_scan: knobs_.smart_scan = v != 0; return 0;
    case KsmKnob::advisor_mode: store_advisor_mode(v != 0); return 0;
    case KsmKnob::advisor_max_cpu: knobs_.advisor_max_cpu = unsigned(v); return 0;
    case KsmKnob::advisor_min_pages_to_scan:
        knobs_.advisor_min_pages_to_scan = uint64_t(v);
        return 0;
    case KsmKnob::advisor_max_pages_to_scan:
        knobs_.advisor_max_pages_to_scan = uint64_t(v);
        return 0;
    case KsmKnob::advisor_target_scan_time:
        if (v == 0) return -EINVAL; // an unsigned long below 1
        knobs_.advisor_target_scan_time = uint64_t(v);
        return 0;
    }
    return -EINVAL;
}

int64_t Ksm::knob_value(KsmKnob k) const {
    switch (k) {
    case KsmKnob::run: return knobs_.run;
    case KsmKnob::max_page_sharing: return knobs_.max_page_sharing;
    case KsmKnob::merge_across_nodes: return knobs_.merge_across_nodes;
    case KsmKnob::pages_to_scan: return knobs_.pages_to_scan;
    case KsmKnob::sleep_millisecs: return knobs_.sleep_millisecs;
    case KsmKnob::stable_node_chains_prune_millisecs:
        return knobs_.stable_node_chains_prune_millisecs;
    case KsmKnob::use_zero_pages: return knobs_.use_zero_pages;
    case KsmKnob::smart_scan: return knobs_.smart_scan;
    case KsmKnob::advisor_mode: return knobs_.advisor_scan_time;
    case KsmKnob::advisor_max_cpu: return knobs_.advisor_max_cpu;
    case KsmKnob::advisor_min_pages_to_scan: return int64_t(knobs_.advisor_min_pages_to_scan);
    case KsmKnob::advisor_max_pages_to_scan: return int64_t(knobs_.advisor_max_pages_to_scan);
    case KsmKnob::advisor_target_scan_time: return int64_t(knobs_.advisor_target_scan_time);
    }
    return 0;
}

} // namespace mmemu

// The timeline of a run (mmemu run --trace): what the CPUs, the kernel and ksmd do, in virtual
// time, told to a Tracer where it happens. The machine holds the tracer (none by default: every
// emission point is one null test); the workloads layer's TraceWriter writes it out as a
// Chrome trace-event JSON file for ui.perfetto.dev (docs/trace.md).
//
// Tracks: one per CPU (its events at that CPU's virtual clock), one for ksmd (at ksmd's clock)
// and one for the scenario's events (at the machine's virtual time, the latest CPU clock).
#pragma once

#include <cstdint>
#include <initializer_list>

namespace mmemu {

// One argument of a trace event: a number (shown in hex when `hex`) or, with `text`, a string.
struct TraceArg {
    const char* key;
    uint64_t value = 0;
    bool hex = false;
    const char* text = nullptr;
};
inline TraceArg trace_hex(const char* key, uint64_t v) {
    return {key, v, true, nullptr};
}
inline TraceArg trace_text(const char* key, const char* text) {
    return {key, 0, false, text};
}

using TraceArgs = std::initializer_list<TraceArg>;

class Tracer {
public:
    // The tracks that are not CPUs (a CPU's track is its number).
    static constexpr unsigned KSMD = 0xfffffff0u;
    static constexpr unsigned EVENTS = 0xfffffff1u;

    // Something that took time on a track, from begin_ns to end_ns.
    virtual void slice(unsigned track, const char* category, const char* name, uint64_t begin_ns,
                       uint64_t end_ns, TraceArgs args = {}) = 0;
    // Something that happened at one moment.
    virtual void instant(unsigned track, const char* category, const char* name, uint64_t at_ns,
                         TraceArgs args = {}) = 0;

protected:
    ~Tracer() = default;
};

} // namespace mmemu

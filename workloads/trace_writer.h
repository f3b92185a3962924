// mmemu run --trace FILE: the run's timeline as a Chrome trace-event JSON file (the "JSON
// object format" of the Trace Event Format, which ui.perfetto.dev and chrome://tracing open),
// in virtual time. docs/trace.md describes what it holds.
//
// The writer streams: events go to the file as they happen (through a buffer of about a MiB),
// so a long run's trace costs disk, not memory, and at most `max_events` events are written
// (the rest are counted, and the file says how many were left out). Same scenario and seed,
// byte-identical trace.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "emulator/trace.h"

namespace mmemu {

class System;

// The default of --trace-limit.
inline constexpr uint64_t DEFAULT_TRACE_EVENTS = 2000000;

class TraceWriter final : public Tracer {
public:
    // Opens (creates or truncates) `path`; nullptr with `error` when it cannot.
    static std::unique_ptr<TraceWriter> open(const std::string& path, uint64_t max_events,
                                             std::string& error);
    ~TraceWriter();
    TraceWriter(const TraceWriter&) = delete;
    TraceWriter& operator=(const TraceWriter&) = delete;

    // The track names (a process named after the scenario, a thread per CPU, ksmd and the
    // scenario's events), written before anything else.
    void begin(const System& sys, const std::string& scenario_name);
    void slice(unsigned track, const char* category, const char* name, uint64_t begin_ns,
               uint64_t end_ns, TraceArgs args = {}) override;
    void instant(unsigned track, const char* category, const char* name, uint64_t at_ns,
                 TraceArgs args = {}) override;
    // The counter tracks at `at_ns`: free pages per zone and KSM's counters, each written only
    // when it changed since it was last written.
    void counters(const System& sys, uint64_t at_ns);
    // Closes the array and the file; false with `error` when the file could not be written.
    bool finish(std::string& error);

    uint64_t events_written() const { return written_; }
    uint64_t events_dropped() const { return dropped_; }

private:
    TraceWriter(std::FILE* f, std::string path, uint64_t max_events);
    // Starts an event (a comma, the fields every event has); false when the limit is reached.
    bool start_event(char phase, unsigned track, const char* category, const char* name,
                     uint64_t at_ns);
    void args(TraceArgs args);
    void end_event();
    void metadata(unsigned tid, const char* what, const std::string& value, bool sort_index);
    unsigned tid(unsigned track) const;
    void text(const char* s);
    void number(uint64_t v);
    void timestamp(uint64_t ns);
    void flush_buffer();

    std::FILE* f_;
    std::string path_;
    uint64_t max_events_;
    uint64_t written_ = 0, dropped_ = 0;
    unsigned nr_cpus_ = 0;
    bool first_ = true, io_error_ = false, finished_ = false;
    std::string buf_;
    void signed_number(int64_t v);
    // The counter tracks' series: the populated zones ("Node 0 DMA32"), and the last values
    // written (empty: none yet).
    std::vector<std::pair<unsigned, unsigned>> zones_;
    std::vector<std::string> zone_names_;
    std::vector<int64_t> last_free_, last_ksm_;
    uint64_t last_counter_ns_ = 0;
};

} // namespace mmemu

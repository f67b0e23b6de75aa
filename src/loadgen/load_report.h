// What `stipple bench` reports from a LoadRun: its figures (bench/bench_report.h's table and JSON
// lines, bench "stipple_bench") and a chart of submit latency and queue depth over time.
//
// Figures: sent, acknowledged, acknowledged_per_s (acknowledged / LoadRun::send_s, the seconds
// until the last submit other than sync was answered),
// errors (submits not acknowledged), lost (acknowledged, end not seen within the drain), failed
// (ended other than succeeded); then p50/p99/p99.9/max in ms of submit (the acknowledgement of
// async, sse and webhook submits, from the intended send time), sync (the answer of Prefer: wait
// submits, from the intended send time), queue_wait and end_to_end (the server's timestamps,
// millisecond resolution) and seen_end_to_end (intended send → end seen by the client); and the
// largest queue depth sampled. Latency figures of a kind that the mix does not send are left out.
#pragma once

#include <map>
#include <string>

#include "bench/bench_report.h"
#include "loadgen/chart.h"
#include "loadgen/load_run.h"

namespace stipple::loadgen {

bench::BenchReport BuildReport(const LoadRun& run);

// Error messages of the submits that were not acknowledged, with how many times each came.
std::map<std::string, int64_t> ErrorCounts(const LoadRun& run);

// Two panels over the run's time: submit latency per time bucket (p50, p99 and max, ms, log
// scale; sync answers too when the mix has them) and the queue (queued and running tasks).
Chart BuildChart(const LoadRun& run, const std::string& title);

}  // namespace stipple::loadgen

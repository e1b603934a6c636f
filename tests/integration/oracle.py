"""The test oracle: an independent Python implementation of evfarm's task generator
(src/gen.h documents the formula) and of the expected result of every sim task."""

M64 = (1 << 64) - 1
STREAM_IO, STREAM_CPU, STREAM_FAIL, STREAM_HANG, STREAM_RETRY = 0, 1, 2, 3, 4
TICK_US = 10000


def mix64(z):
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def bits(seed, task_id, stream):
    key = mix64(seed ^ ((stream * 0xD1B54A32D192ED03) & M64))
    return mix64((key + task_id * 0x9E3779B97F4A7C15) & M64)


def uniform(b, lo, hi):
    span = (hi - lo + 1) & M64
    if span == 0:
        return b
    return lo + ((b * span) >> 64)


def unit(b):
    return (b >> 11) * 2.0 ** -53


def c_round(x):
    """C's llround (halves away from zero) for the non-negative values we use."""
    import math
    return int(math.floor(x + 0.5))


def attempt_stream(stream, attempt):
    """Attempt k of a per-attempt decision draws from stream + 256 (k - 1) (src/gen.h)."""
    return stream + 256 * (attempt - 1)


def backoff(seed, task_id, attempt, delay, max_delay):
    """The wait before retry `attempt` (full jitter, src/runner.h): uniform in
    [0, min(delay * 2^(attempt-1), max_delay))."""
    cap = min(delay * 2.0 ** (attempt - 1), max_delay)
    return unit(bits(seed, task_id, attempt_stream(STREAM_RETRY, attempt))) * cap


def task(seed, task_id, io_min=0.2, io_max=1.0, cpu_min=100000, cpu_max=500000, fail_rate=0.0,
         hang_rate=0.0, timeout=0.0, retries=0, cpu_skew=0.0, ntasks=1):
    """The planned parameters and expected result of one sim task: attempt k hangs (ends by
    --timeout), else fails (io_error) with the generator's draws for (seed, id, k); an attempt
    whose delay reaches the timeout also times out.  Transient failures are retried while
    attempts remain."""
    lo, hi = c_round(io_min * 100.0), c_round(io_max * 100.0)
    io_us = uniform(bits(seed, task_id, STREAM_IO), lo, hi) * TICK_US
    n = uniform(bits(seed, task_id, STREAM_CPU), cpu_min, cpu_max)
    if cpu_skew > 0:  # --cpu-skew: task i costs 1 + skew (i-1)/(N-1) times its draw
        import math
        f = 1.0 + cpu_skew * float(task_id - 1) / float(ntasks - 1 if ntasks > 1 else 1)
        n = min(int(math.floor(float(n) * f + 0.5)), 4294967295)
    status, last_error, outcomes = "ok", "", []
    for k in range(1, retries + 2):
        hung = hang_rate > 0 and unit(bits(seed, task_id, attempt_stream(STREAM_HANG, k))) < hang_rate
        failed = fail_rate > 0 and unit(bits(seed, task_id, attempt_stream(STREAM_FAIL, k))) < fail_rate
        if hung or (timeout > 0 and io_us / 1e6 >= timeout):
            status = "timeout"
        elif failed:
            status = "io_error"
        else:
            status = "ok"
        outcomes.append(status)
        if status == "ok":
            break
        last_error = status
    return {
        "id": task_id,
        "iterations": n,
        "value": n * (n - 1) // 2 if status == "ok" else 0,
        "io_delay_us": io_us,
        "status": status,
        "attempts": len(outcomes),
        "last_error": last_error,
        "outcomes": outcomes,
    }


def canonical_line(t):
    """A record without its placement and timing fields (rank, batch, times): identical for
    every rank count and batch size."""
    return "%d,%d,%d,%.6f,%s,%d,%s" % (t["id"], t["iterations"], t["value"],
                                       t["io_delay_us"] / 1e6, t["status"], t["attempts"],
                                       t["last_error"])


def summary(recs, nranks):
    """What the summary must say of these records (dicts with rank, io_delay, cpu_time), derived
    here from the definitions in src/stats.h, independently of evfarm's code:
      T_lb = max( max_i (io_i + c_i),  max over t in {io_j} of ( t + sum_{io_j >= t} c_j / P ) )
    busy per rank = the sum of its CPU phases; imbalance = max busy / mean busy; bound_by io when
    T_lb < 1.1 x the longest I/O delay."""
    task_term = max((r["io_delay"] + r["cpu_time"] for r in recs), default=0.0)
    by_io = {}
    for r in recs:
        by_io[r["io_delay"]] = by_io.get(r["io_delay"], 0.0) + r["cpu_time"]
    backlog, work = 0.0, 0.0
    for i, t in enumerate(sorted(by_io, reverse=True)):
        work += by_io[t]
        cand = t + work / nranks
        if i == 0 or cand > backlog:
            backlog = cand
    t_lb = max(task_term, backlog)
    busy = [0.0] * nranks
    for r in recs:
        busy[r["rank"]] += r["cpu_time"]
    mean = sum(busy) / nranks
    max_io = max((r["io_delay"] for r in recs), default=0.0)
    return {"t_lb": t_lb, "task_term": task_term, "backlog_term": backlog, "busy": busy,
            "imbalance": max(busy) / mean if mean > 0 else 1.0,
            "bound_by": "io" if t_lb < 1.1 * max_io else "cpu"}


def max_overlap(intervals):
    """The largest number of half-open intervals [start, end) that overlap at one time."""
    events = sorted([(e, -1) for _, e in intervals] + [(s, 1) for s, _ in intervals])
    cur = best = 0
    for _, d in events:
        cur += d
        best = max(best, cur)
    return best


if __name__ == "__main__":
    # Print reference values for the C unit test of the generator.
    for seed, tid, stream in [(1, 1, 0), (1, 1, 1), (1, 2, 0), (42, 7, 2), (0, 0, 0),
                              (M64, 2147483647, 1)]:
        print(seed, tid, stream, hex(bits(seed, tid, stream)))
    print(task(1, 1), task(1, 2), task(7, 12345, 0, 0.05, 0, 10))

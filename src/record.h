/* The fixed-size result record of one task: filled by the runner on the rank that ran the
 * task, gathered to rank 0 with MPI_Gatherv as opaque bytes, written out by output.c.  Every
 * kind's record is this 64-byte part followed by the kind's fixed-size extension
 * (evf_task_kind.ext_size: 0 for sim), so one job's records all have one size, one MPI
 * datatype. */
#ifndef EVF_RECORD_H
#define EVF_RECORD_H

#include <stddef.h>
#include <stdint.h>

/* X(enum name, value, name in output files) */
#define EVF_STATUS_MAP(X)                  \
  X(EVF_STATUS_OK, 0, "ok")                \
  X(EVF_STATUS_IO_ERROR, 1, "io_error")    \
  X(EVF_STATUS_NOT_RUN, 2, "not_run")      \
  X(EVF_STATUS_TIMEOUT, 3, "timeout")      \
  X(EVF_STATUS_HTTP_ERROR, 4, "http_error") \
  X(EVF_STATUS_TRUNCATED, 5, "truncated")  \
  X(EVF_STATUS_ERROR, 6, "error")          \
  X(EVF_STATUS_EXIT, 7, "exit")            \
  X(EVF_STATUS_SIGNAL, 8, "signal")        \
  X(EVF_STATUS_SPAWN_ERROR, 9, "spawn_error") \
  X(EVF_STATUS_OPTED_OUT, 10, "opted_out") \
  X(EVF_STATUS_ROBOTS_DISALLOWED, 11, "robots_disallowed")

enum evf_status {
#define EVF_X_ENUM(name, val, str) name = (val),
  EVF_STATUS_MAP(EVF_X_ENUM)
#undef EVF_X_ENUM
  EVF_STATUS_COUNT
};

const char *evf_status_name(int status);

struct evf_record {
  uint64_t value;        /* result of the CPU phase (sim: sum of 0..iterations-1) */
  double t_start;        /* seconds since t0 (the rank's clock right after the start barrier) */
  double t_io_done;      /* seconds since t0: the I/O phase ended, the CPU phase begins */
  double t_end;          /* seconds since t0: the CPU phase ended */
  double cpu_time;       /* seconds the CPU phase held the loop thread (monotonic clock) */
  uint32_t id;           /* task id, 1..N */
  int32_t rank;          /* rank that ran the task */
  uint32_t batch;        /* global batch index, 0-based, in task-id order */
  uint32_t iterations;   /* planned CPU iterations */
  uint32_t io_delay_lo;  /* the I/O delay in microseconds (sim: planned; http, exec: measured),
                            bits 0..31: read and set with evf_record_io_us() and _set_io_us() */
  uint8_t status;        /* enum evf_status of the task */
  uint8_t io_delay_hi;   /* the I/O delay's bits 32..39: 2^40 us, 12.7 days (journals of
                            format 2 held an int16 status here: its high byte, always 0) */
  uint8_t attempts;      /* I/O attempts made (1 + retries used); 0 when never started */
  uint8_t last_error;    /* enum evf_status of the last failed attempt; 0 (ok) when none */
};

_Static_assert(sizeof(struct evf_record) == 64, "a record must stay 64 bytes");
_Static_assert(offsetof(struct evf_record, status) == 60 &&
               offsetof(struct evf_record, io_delay_hi) == 61, "the journal's record layout");

/* The largest I/O delay a record holds, in microseconds (longer ones saturate). */
#define EVF_IO_US_MAX ((UINT64_C(1) << 40) - 1)

static inline uint64_t evf_record_io_us(const struct evf_record *r)
{
  return (uint64_t)r->io_delay_hi << 32 | r->io_delay_lo;
}
static inline void evf_record_set_io_us(struct evf_record *r, uint64_t us)
{
  if (us > EVF_IO_US_MAX)
    us = EVF_IO_US_MAX;
  r->io_delay_lo = (uint32_t)us;
  r->io_delay_hi = (uint8_t)(us >> 32);
}
/* The I/O delay in seconds. */
static inline double evf_record_io_delay(const struct evf_record *r)
{
  return (double)evf_record_io_us(r) * 1e-6;
}

/* Records of size `stride` in one array: the i-th. */
static inline struct evf_record *evf_record_at(void *base, size_t stride, size_t i)
{
  return (struct evf_record *)(void *)((char *)base + i * stride);
}
static inline const struct evf_record *evf_record_cat(const void *base, size_t stride, size_t i)
{
  return (const struct evf_record *)(const void *)((const char *)base + i * stride);
}

#endif

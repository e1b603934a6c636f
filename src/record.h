/* The fixed-size result record of one task: filled by the runner on the rank that ran the
 * task, gathered to rank 0 with MPI_Gatherv as 64 opaque bytes, written out by output.c. */
#ifndef EVF_RECORD_H
#define EVF_RECORD_H

#include <stdint.h>

/* X(enum name, value, name in output files) */
#define EVF_STATUS_MAP(X)                  \
  X(EVF_STATUS_OK, 0, "ok")                \
  X(EVF_STATUS_IO_ERROR, 1, "io_error")    \
  X(EVF_STATUS_NOT_RUN, 2, "not_run")

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
  uint32_t io_delay_us;  /* planned I/O delay, microseconds */
  int32_t status;        /* enum evf_status */
};

_Static_assert(sizeof(struct evf_record) == 64, "a record must stay 64 bytes");

#endif

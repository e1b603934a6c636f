/* Task kinds: each kind (sim now; http and exec later) is one file exporting one const table
 * of functions.  The runner owns the scheduling, the records and the clock; a kind only plans
 * a task's parameters, runs its I/O phase on the loop and its CPU phase on the loop thread. */
#ifndef EVF_TASK_H
#define EVF_TASK_H

#include <stddef.h>
#include <stdint.h>

struct ev_loop;
struct evf_options;
struct evf_record;
struct evf_task;

struct evf_task_kind {
  const char *name;
  size_t state_size;  /* bytes of private state per in-flight task (evf_task_state()) */

  /* Fill the planned fields of `rec` (iterations, io_delay_us...) for task rec->id; a pure
   * function of the options and the id, so every rank count plans the same tasks. */
  void (*plan)(const struct evf_options *opt, struct evf_record *rec);

  /* Start the I/O phase of `t`.  On success return 0 and, later, call evf_task_io_done() from a
   * loop callback exactly once.  On failure return a nonzero enum evf_status; io_done is then
   * never called and the task ends with that status. */
  int (*io_start)(struct evf_task *t);

  /* Run the CPU phase on the loop thread; fill rec->value and return an enum evf_status. */
  int (*cpu_run)(struct evf_task *t);
};

/* Everything a kind may touch of an in-flight task. */
struct evf_task {
  struct evf_runner *runner;  /* owner; opaque to kinds */
  struct evf_record *rec;     /* this task's record, in the rank's record array */
};

/* The kind's private state of `t` (state_size bytes, max-aligned). */
void *evf_task_state(struct evf_task *t);
/* The event loop the task runs on. */
struct ev_loop *evf_task_loop(struct evf_task *t);
/* The options of the job. */
const struct evf_options *evf_task_options(struct evf_task *t);
/* Report the end of the I/O phase with an enum evf_status; the runner runs the CPU phase if it
 * is EVF_STATUS_OK, completes the record and may reuse `t` for the next task before returning. */
void evf_task_io_done(struct evf_task *t, int status);

/* Registry: the kind called `name`, or NULL. */
const struct evf_task_kind *evf_task_kind_find(const char *name);
/* "sim, ..." for messages. */
const char *evf_task_kind_names(void);

extern const struct evf_task_kind evf_task_kind_sim;

#endif

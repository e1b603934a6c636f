/* guard: what happens to a job when the process is stopped from outside.  While a job runs or
 * a temporary output file exists, SIGINT, SIGTERM, SIGHUP (Ctrl-C, scancel, a lost terminal),
 * SIGUSR1, SIGUSR2 (what mpirun forwards and Slurm's --signal sends) and SIGPIPE (a closed
 * output pipe) remove every temporary file, print one line on the speaking rank, and end the
 * process with 128 + the signal number (130 for SIGINT), the shell's convention, so the exit
 * code never claims that a task failed.  A signal that was ignored when the guard was set up
 * (nohup's SIGHUP) stays ignored.  Process-wide and reference-counted: the handlers are
 * installed by the first evf_guard_enter() and the previous ones restored by the last leave. */
#ifndef EVF_GUARD_H
#define EVF_GUARD_H

#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <sys/types.h>

/* Install the handlers (first call) and count one user.  `rank` is this process's rank in the
 * job; rank 0 prints the message. */
void evf_guard_enter(int rank);
void evf_guard_leave(void);

/* Remember a temporary file to remove on a signal or a fatal error (enters the guard), and
 * forget it (leaves).  `path` must stay valid until evf_guard_untrack(). */
void evf_guard_track(const char *path);
void evf_guard_untrack(const char *path);

/* Process groups of children (exec's commands) that must not outlive the process: on a
 * handled signal or a fatal error each nonzero entry of groups[0..n) gets SIGTERM, then, 0.2 s
 * later, SIGKILL.  The owner writes a group's id into a free (zero) entry when it spawns it and
 * zeroes the entry when the group is gone; NULL unregisters.  One array per process. */
void evf_guard_children(volatile pid_t *groups, size_t n);

/* The journal's buffer (journal.c): on a handled signal or a fatal error, the whole frames in
 * buf[0..*used) are written to fd (and fsynced) before the process ends, so a job stopped from
 * outside loses nothing rank 0 had received.  `lock` is 0 while the buffer is free, 1 while the
 * journal writes it out (the guard then waits: the signal may run on another thread), and the
 * guard sets it to 2 for good before it writes.  buf NULL unregisters. */
void evf_guard_journal(int fd, const unsigned char *buf, const volatile size_t *used,
                       atomic_int *lock);

/* Drain instead of stopping (--journal): while `flag` is registered, the first SIGUSR1 or
 * SIGTERM only sets *flag to the signal's number (the job's loop drains and exits 4); a second
 * one, or any other handled signal, stops the process as above.  A drain that SIGTERM started
 * has `term_deadline` seconds (> 0; a timer, SIGALRM): if the process is still there then, it
 * stops as on a second signal, before the launcher's SIGKILL can cut it halfway.  NULL
 * unregisters (and disarms the timer). */
void evf_guard_drain(volatile sig_atomic_t *flag, double term_deadline);

/* A failure nothing can recover from (an allocator of libev's that cannot return): remove the
 * temporary files, print "evfarm: rank R: <what>" in one write, and end the process with exit
 * code 3 (a runtime error).  Async-signal-safe apart from the message formatting. */
__attribute__((noreturn)) void evf_guard_fatal(const char *what);
/* What evf_guard_fatal() calls after its clean-up and message, instead of ending only this
 * process: the job's MPI_Abort (run.c sets it for the job's communicator, and clears it with
 * NULL when the job ends).  It must not return; if it does, the process exits 3. */
void evf_guard_on_fatal(void (*abort_fn)(void *arg, int code), void *arg);

/* The signals the guard handles, for tests: their count and the k-th. */
int evf_guard_nsignals(void);
int evf_guard_signal(int k);

#endif

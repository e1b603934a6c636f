/* evfarm-exec-shim REPORT_FD PROGRAM [ARG]...: the exec kind's command, run one process away
 * from the rank, so its figures are its own.
 *
 * The rank starts commands with posix_spawn, whose child shares the rank's memory until it
 * execs; Linux then records that memory's high-water mark as the child's (exec_mmap's
 * setmax_mm_hiwater_rss), so wait4's ru_maxrss of a command the rank spawned is at least the
 * rank's own peak (69 MB for a command of 1.7 MB).  This small program, spawned in its place,
 * starts the command from itself (posix_spawn: a vfork of a few hundred KiB, cheaper than a
 * fork; a fork cost 1 ms more a command on a slow VM), waits for it, writes its wait status and
 * rusage to REPORT_FD (struct evf_exec_report, one write), and exits as the command did (the
 * same code, or the same signal).  It runs no MPI and links nothing but libc. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "exec_shim.h"

extern char **environ;

int main(int argc, char **argv)
{
  if (argc < 3)
    return 126;
  int report = atoi(argv[1]);
  /* A signal to the task's process group (a deadline's SIGTERM) is for the command: the shim
   * outlives it to report how the command ended, and the command gets the dispositions the
   * shim was started with. */
  static const int shielded[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGPIPE,
                                 SIGALRM};
  enum { NSH = sizeof shielded / sizeof shielded[0] };
  struct sigaction old[NSH], ign;
  memset(&ign, 0, sizeof ign);
  ign.sa_handler = SIG_IGN;
  for (int k = 0; k < NSH; k++)
    sigaction(shielded[k], &ign, &old[k]);
  /* posix_spawn (a vfork): the command starts from this small process, so the high-water mark
   * Linux carries over at its exec is this process's few hundred KiB, and nothing is copied. */
  sigset_t dfl;
  sigemptyset(&dfl);
  for (int k = 0; k < NSH; k++)
    if (old[k].sa_handler == SIG_DFL)
      sigaddset(&dfl, shielded[k]);
  posix_spawnattr_t at;
  posix_spawnattr_init(&at);
  posix_spawnattr_setsigdefault(&at, &dfl);
  posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGDEF);
  fcntl(report, F_SETFD, FD_CLOEXEC);
  pid_t pid;
  int err = posix_spawn(&pid, argv[2], NULL, &at, argv + 2, environ);
  posix_spawnattr_destroy(&at);
  if (err)
    return err == ENOENT ? 127 : 126;
  /* The command holds stdout and stderr: their ends here would only delay its readers' end. */
  int null = open("/dev/null", O_RDWR);
  if (null >= 0) {
    dup2(null, 1);
    dup2(null, 2);
    if (null > 2)
      close(null);
  }
  int status = 0;
  struct rusage ru;
  memset(&ru, 0, sizeof ru);
  pid_t got;
  while ((got = wait4(pid, &status, 0, &ru)) < 0 && errno == EINTR)
    ;
  struct evf_exec_report r = {
    .magic = EVF_EXEC_REPORT_MAGIC,
    .status = got == pid ? status : 0,
    .user_us = (int64_t)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec,
    .sys_us = (int64_t)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec,
    .maxrss_kib = ru.ru_maxrss,
  };
  if (got == pid) {
    ssize_t w = write(report, &r, sizeof r);
    (void)w;
  }
  if (got != pid || WIFEXITED(status))
    return got == pid ? WEXITSTATUS(status) : 126;
  /* Ended by a signal: end the same way (no core of our own). */
  int sig = WTERMSIG(status);
  struct rlimit none = {0, 0};
  setrlimit(RLIMIT_CORE, &none);
  signal(sig, SIG_DFL);
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, sig);
  sigprocmask(SIG_UNBLOCK, &s, NULL);
  raise(sig);
  return 128 + sig;
}

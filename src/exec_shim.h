/* What evfarm-exec-shim (exec_shim.c) tells the rank of the command it ran: written once to the
 * report descriptor before the shim exits as the command did. */
#ifndef EVF_EXEC_SHIM_H
#define EVF_EXEC_SHIM_H

#include <stdint.h>

#define EVF_EXEC_REPORT_MAGIC 0x45565852u /* "EVXR" */

struct evf_exec_report {
  uint32_t magic;
  int32_t status;        /* the command's wait status */
  int64_t user_us, sys_us;
  int64_t maxrss_kib;    /* its own peak, not the rank's */
};

#endif

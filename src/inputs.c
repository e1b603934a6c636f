/* Reading, packing and unpacking the per-task input lines (see inputs.h). */
#include "inputs.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

static int grow(struct evf_inputs *in, size_t *cap, size_t need)
{
  if (in->len + need <= *cap)
    return 0;
  size_t c = *cap ? *cap : 65536;
  while (c < in->len + need)
    c *= 2;
  char *b = realloc(in->buf, c);
  if (!b)
    return EVF_ENOMEM;
  in->buf = b;
  *cap = c;
  return 0;
}

static int index_lines(struct evf_inputs *in)
{
  in->line = malloc((in->n ? in->n : 1) * sizeof *in->line);
  if (!in->line)
    return EVF_ENOMEM;
  size_t k = 0;
  for (size_t at = 0; k < in->n && at < in->len; at += strlen(in->buf + at) + 1)
    in->line[k++] = in->buf + at;
  return k == in->n ? 0 : EVF_EUSAGE;
}

int evf_inputs_read(struct evf_inputs *in, const char *option, const char *path,
                    int (*check)(const struct evf_options *opt, const char *line, char *why),
                    const struct evf_options *opt, char *msg)
{
  memset(in, 0, sizeof *in);
  FILE *f = fopen(path, "r");
  if (!f)
    return evf_seterr(msg, EVF_EUSAGE, "--%s: '%s': %s", option, evf_clip(path), strerror(errno));
  size_t cap = 0, lineno = 0, size = 0;
  char *line = NULL;
  int rc = 0;
  ssize_t got;
  errno = 0;
  while ((got = getline(&line, &size, f)) >= 0) {
    lineno++;
    size_t n = (size_t)got;
    if (memchr(line, '\0', n)) {
      rc = evf_seterr(msg, EVF_EUSAGE, "--%s: %s:%zu: a NUL byte (not a text file?)", option,
                      evf_clip(path), lineno);
      break;
    }
    char *s = line, *e = line + n;
    while (s < e && (*s == ' ' || *s == '\t'))
      s++;
    while (e > s && (e[-1] == '\n' || e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
      e--;
    if (s == e || *s == '#')
      continue;
    *e = '\0';
    if ((size_t)(e - s) > EVF_INPUT_MAX) {
      rc = evf_seterr(msg, EVF_EUSAGE, "--%s: %s:%zu: longer than %d bytes", option,
                      evf_clip(path), lineno, EVF_INPUT_MAX);
      break;
    }
    char why[EVF_ERRMSG_LEN] = "";
    if (check && check(opt, s, why)) {
      rc = evf_seterr(msg, EVF_EUSAGE, "--%s: %s:%zu: %s", option, evf_clip(path), lineno, why);
      break;
    }
    if (in->n >= EVF_TASKS_MAX) {
      rc = evf_seterr(msg, EVF_EUSAGE, "--%s: %s: more than %u inputs", option, evf_clip(path),
                      EVF_TASKS_MAX);
      break;
    }
    if (grow(in, &cap, (size_t)(e - s) + 1)) {
      rc = evf_seterr(msg, EVF_ENOMEM, "--%s: %s: out of memory at line %zu", option,
                      evf_clip(path), lineno);
      break;
    }
    memcpy(in->buf + in->len, s, (size_t)(e - s) + 1);
    in->len += (size_t)(e - s) + 1;
    in->n++;
    errno = 0;
  }
  if (rc == 0 && ferror(f))
    rc = evf_seterr(msg, EVF_EUSAGE, "--%s: '%s': %s", option, evf_clip(path),
                    strerror(errno ? errno : EIO));
  free(line);
  fclose(f);
  if (rc == 0 && in->n == 0)
    rc = evf_seterr(msg, EVF_EUSAGE, "--%s: '%s': no inputs (every line is blank or a comment)",
                    option, evf_clip(path));
  if (rc == 0 && index_lines(in))
    rc = evf_seterr(msg, EVF_ENOMEM, "--%s: out of memory", option);
  if (rc)
    evf_inputs_free(in);
  return rc;
}

size_t evf_inputs_packed_size(const struct evf_inputs *all, size_t pos)
{
  return (all->ids ? sizeof(uint32_t) : 0) + strlen(all->line[pos]) + 1;
}

size_t evf_inputs_put(const struct evf_inputs *all, size_t pos, char *out)
{
  size_t at = 0;
  if (all->ids) {
    memcpy(out, &all->ids[pos], sizeof(uint32_t));
    at = sizeof(uint32_t);
  }
  size_t n = strlen(all->line[pos]) + 1;
  memcpy(out + at, all->line[pos], n);
  return at + n;
}

int evf_inputs_parse(char *buf, size_t len, size_t n, const char **line, uint32_t *ids)
{
  size_t at = 0;
  for (size_t k = 0; k < n; k++) {
    if (ids) {
      if (len - at < sizeof(uint32_t) + 1)
        return EVF_EUSAGE;
      memcpy(&ids[k], buf + at, sizeof(uint32_t));
      at += sizeof(uint32_t);
    }
    const char *end = at < len ? memchr(buf + at, '\0', len - at) : NULL;
    if (!end)
      return EVF_EUSAGE;
    line[k] = buf + at;
    at = (size_t)(end - buf) + 1;
  }
  return at == len ? 0 : EVF_EUSAGE;
}

int evf_inputs_pack(const struct evf_inputs *all, const struct evf_partition *p, char **out,
                    int *counts, int *displs)
{
  size_t total = 0;
  for (int r = 0; r < p->nranks; r++)
    for (int b = p->batch_displ[r]; b < p->batch_displ[r] + p->batch_count[r]; b++)
      for (uint32_t k = 0; k < p->batches[b].count; k++)
        total += evf_inputs_packed_size(all, p->batches[b].first_id - 1 + k);
  *out = malloc(total ? total : 1);
  if (!*out)
    return EVF_ENOMEM;
  size_t at = 0;
  for (int r = 0; r < p->nranks; r++) {
    size_t start = at;
    for (int b = p->batch_displ[r]; b < p->batch_displ[r] + p->batch_count[r]; b++) {
      const struct evf_batch *bt = &p->batches[b];
      for (uint32_t k = 0; k < bt->count; k++)
        at += evf_inputs_put(all, bt->first_id - 1 + k, *out + at);
    }
    if (at - start > INT_MAX || start > INT_MAX) {
      free(*out);
      *out = NULL;
      return EVF_EUSAGE;
    }
    counts[r] = (int)(at - start);
    displs[r] = (int)start;
  }
  return 0;
}

int evf_inputs_adopt(struct evf_inputs *in, char *buf, size_t len, size_t n, int ids)
{
  memset(in, 0, sizeof *in);
  in->buf = buf;
  in->len = len;
  in->n = n;
  in->line = malloc((n ? n : 1) * sizeof *in->line);
  if (ids)
    in->ids = in->ids_buf = malloc((n ? n : 1) * sizeof *in->ids_buf);
  if (!in->line || (ids && !in->ids_buf))
    return EVF_ENOMEM;
  return evf_inputs_parse(buf, len, n, in->line, in->ids_buf);
}

int evf_inputs_view(struct evf_inputs *in, const struct evf_inputs *all,
                    const struct evf_batch *batches, size_t nbatches)
{
  memset(in, 0, sizeof *in);
  for (size_t b = 0; b < nbatches; b++)
    in->n += batches[b].count;
  in->line = malloc((in->n ? in->n : 1) * sizeof *in->line);
  if (all->ids)
    in->ids = in->ids_buf = malloc((in->n ? in->n : 1) * sizeof *in->ids_buf);
  if (!in->line || (all->ids && !in->ids_buf))
    return EVF_ENOMEM;
  size_t k = 0;
  for (size_t b = 0; b < nbatches; b++)
    for (uint32_t i = 0; i < batches[b].count; i++, k++) {
      in->line[k] = all->line[batches[b].first_id - 1 + i];
      if (all->ids)
        in->ids_buf[k] = all->ids[batches[b].first_id - 1 + i];
    }
  return 0;
}

int evf_inputs_permuted(struct evf_inputs *in, const struct evf_inputs *all, const uint32_t *perm,
                        size_t n)
{
  memset(in, 0, sizeof *in);
  in->n = n;
  in->line = malloc((n ? n : 1) * sizeof *in->line);
  if (!in->line)
    return EVF_ENOMEM;
  for (size_t k = 0; k < n; k++)
    in->line[k] = perm[k] ? all->line[perm[k] - 1] : "";
  in->ids = perm;
  return 0;
}

void evf_inputs_free(struct evf_inputs *in)
{
  free(in->buf);
  free(in->line);
  free(in->ids_buf);
  memset(in, 0, sizeof *in);
}

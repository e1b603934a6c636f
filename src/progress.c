/* Rank 0's progress lines and bar (see progress.h). */
#include "progress.h"

#include <stdio.h>

#include "error.h"

#define PROGRESS_BAR_WIDTH 24

/* Tasks per second over the last EVF_PROGRESS_RATE_WINDOW seconds (from the oldest sample in
 * it). */
static double progress_rate(struct evf_progress_view *p, unsigned long long done, double elapsed)
{
  double t_old = 0;
  unsigned long long d_old = 0;
  for (int k = 0; k < p->nsamples; k++) {
    int i = (p->next - p->nsamples + k + EVF_PROGRESS_SAMPLES) % EVF_PROGRESS_SAMPLES;
    if (p->sample_t[i] >= elapsed - EVF_PROGRESS_RATE_WINDOW) {
      t_old = p->sample_t[i];
      d_old = p->sample_done[i];
      break;
    }
  }
  int newest = (p->next + EVF_PROGRESS_SAMPLES - 1) % EVF_PROGRESS_SAMPLES;
  if (p->nsamples == 0 || p->sample_t[newest] < elapsed) {
    p->sample_t[p->next] = elapsed;
    p->sample_done[p->next] = done;
    p->next = (p->next + 1) % EVF_PROGRESS_SAMPLES;
    if (p->nsamples < EVF_PROGRESS_SAMPLES)
      p->nsamples++;
  }
  return elapsed > t_old && done >= d_old ? (double)(done - d_old) / (elapsed - t_old) : 0;
}

static void format_eta(char *buf, size_t n, double left, double rate)
{
  if (left <= 0)
    snprintf(buf, n, "0 s");
  else if (rate <= 0)
    snprintf(buf, n, "?");
  else if (left / rate >= 3600)
    snprintf(buf, n, "%dh%02dm", (int)(left / rate / 3600), (int)(left / rate / 60) % 60);
  else if (left / rate >= 60)
    snprintf(buf, n, "%dm%02ds", (int)(left / rate / 60), (int)(left / rate) % 60);
  else
    snprintf(buf, n, "%.1f s", left / rate);
}

void evf_progress_print(struct evf_progress_view *p, const struct evf_progress_counts *c,
                           double elapsed, int last)
{
  unsigned long long n = p->total;
  double pct = n ? 100.0 * (double)c->done / (double)n : 100.0;
  double rate = progress_rate(p, c->done, elapsed);
  char eta[32];
  format_eta(eta, sizeof eta, (double)(n - c->done), rate);
  if (!p->bar) {
    if (p->groups)
      evf_errorf(p->err,
                 "progress: %llu of %llu tasks done (%.0f%%) at %.1f s, %.1f tasks/s, ETA %s, "
                 "%llu failed, %llu in flight; %s: %llu done, %llu in progress",
                 c->done, n, pct, elapsed, rate, eta, c->failed, c->inflight, p->groups,
                 c->groups_done, c->groups_active);
    else
      evf_errorf(p->err,
                 "progress: %llu of %llu tasks done (%.0f%%) at %.1f s, %.1f tasks/s, ETA %s, "
                 "%llu failed, %llu in flight",
                 c->done, n, pct, elapsed, rate, eta, c->failed, c->inflight);
    return;
  }
  char line[320], bar[PROGRESS_BAR_WIDTH + 1], groups[96] = "";
  if (p->groups)
    snprintf(groups, sizeof groups, "; %s %llu done, %llu in progress", p->groups,
             c->groups_done, c->groups_active);
  int fill = (int)(pct / 100.0 * PROGRESS_BAR_WIDTH + 0.5);
  for (int k = 0; k < PROGRESS_BAR_WIDTH; k++)
    bar[k] = k < fill ? '#' : '.';
  bar[PROGRESS_BAR_WIDTH] = '\0';
  /* \r: back to the start of the line; \033[K: erase the rest of the old one. */
  int len = snprintf(line, sizeof line,
                     "\revfarm: [%s] %llu/%llu %.0f%% %.0f tasks/s ETA %s, %llu failed, %llu in "
                     "flight%s\033[K%s",
                     bar, c->done, n, pct, rate, eta, c->failed, c->inflight, groups,
                     last ? "\n" : "");
  fwrite(line, 1, len > 0 && (size_t)len < sizeof line ? (size_t)len : sizeof line - 1, p->err);
  fflush(p->err);
  p->drawn = !last;
}


/* sim_report.h - the results of one or more simulations (the same traffic
 * and seed, one per strategy or configuration) as a terminal table, a
 * self-contained HTML page with inline SVG plots (no script, no network),
 * and JSON for programs. Every number is printed with fixed precision: the
 * same results give the same bytes. */
#ifndef LUXY_SIM_REPORT_H
#define LUXY_SIM_REPORT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "sim_result.h"

struct sim_report_info {
    const char *source;       /* "trace access.json" / "workload bursty.workload.lua" */
    const char *model;
    uint64_t seed;
};

/* Imbalance over the backends' attempts: max share / mean share, and the
 * coefficient of variation (stddev / mean). */
void sim_imbalance(const struct sim_result *r, double *max_over_mean, double *cv);

/* What tells run i apart from the others, for column heads and legends:
 * its strategy when they share a configuration, else the configuration's
 * file name (each run's section says both). */
const char *sim_run_label(const struct sim_result *const *r, unsigned n, unsigned i, char *buf, size_t len);

void sim_report_text(FILE *f, const struct sim_report_info *info, const struct sim_result *const *r, unsigned n);
void sim_report_html(FILE *f, const struct sim_report_info *info, const struct sim_result *const *r, unsigned n);
void sim_report_json(FILE *f, const struct sim_report_info *info, const struct sim_result *const *r, unsigned n);

#endif

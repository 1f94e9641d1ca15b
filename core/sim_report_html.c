/* sim_report_html.c - the report as one HTML page (sim_report.h): inline
 * CSS and SVG only, so it opens from a file, offline, in any browser. Each
 * plotted line is a <polyline class="series" data-name=...> with its
 * points, each bar a <rect class="bar">: tests and people read the same. */
#include <math.h>
#include <string.h>

#include "sim_report.h"

static const char *const colors[] = { "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                      "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf" };
#define NCOLORS (sizeof(colors) / sizeof(colors[0]))

static void esc(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '&':
            fputs("&amp;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        default:
            fputc(*s, f);
        }
    }
}

/* A round number at least v: 1, 2, 5 x 10^k. */
static double nice_ceil(double v)
{
    if (!(v > 0))
        return 1;
    double p = pow(10, floor(log10(v)));
    double m = v / p;
    return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
}

#define W 720
#define H 240
#define L 56 /* left margin */
#define B 28 /* bottom margin */
#define T 24 /* top margin */

struct line {
    const char *name;
    const double *v;
    const char *color;
};

/* A line chart of n points per line, x from 0 to n * width seconds; marks
 * (membership changes) as dashed verticals. */
static void chart(FILE *f, const char *title, const char *unit, const struct line *lines, unsigned nlines,
                  unsigned n, double width, const struct sim_result *r)
{
    double max = 0;
    for (unsigned l = 0; l < nlines; l++)
        for (unsigned i = 0; i < n; i++)
            if (lines[l].v[i] > max)
                max = lines[l].v[i];
    max = nice_ceil(max);
    double span = n * width > 0 ? n * width : 1;
    fprintf(f, "<figure><figcaption>%s (%s)</figcaption>\n", title, unit);
    fprintf(f, "<svg class=\"chart\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" xmlns=\"http://www.w3.org/2000/svg\">\n",
            W, H, W, H);
    for (int g = 0; g <= 4; g++) {
        double y = T + (H - T - B) * (1 - g / 4.0);
        fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" class=\"grid\"/>", L, y, W - 8, y);
        fprintf(f, "<text x=\"%d\" y=\"%.1f\" class=\"ylab\">%g</text>\n", L - 6, y + 4, max * g / 4);
    }
    for (int g = 0; g <= 5; g++) {
        double x = L + (W - 8 - L) * g / 5.0;
        fprintf(f, "<text x=\"%.1f\" y=\"%d\" class=\"xlab\"%s>%.1fs</text>", x, H - 8,
                g == 5 ? " style=\"text-anchor:end\"" : "", span * g / 5);
    }
    fputc('\n', f);
    for (unsigned c = 0; c < r->nchanges; c++) {
        double x = L + (W - 8 - L) * r->changes[c].at / span;
        fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" class=\"mark\"/>\n", x, T, x, H - B);
    }
    for (unsigned l = 0; l < nlines; l++) {
        fprintf(f, "<polyline class=\"series\" data-name=\"");
        esc(f, lines[l].name);
        fprintf(f, "\" stroke=\"%s\" points=\"", lines[l].color);
        for (unsigned i = 0; i < n; i++) {
            double x = L + (W - 8 - L) * (i + 0.5) * width / span;
            double y = T + (H - T - B) * (1 - lines[l].v[i] / max);
            fprintf(f, "%s%.1f,%.1f", i ? " " : "", x, y);
        }
        fprintf(f, "\"/>\n");
    }
    fprintf(f, "</svg>\n<div class=\"legend\">");
    for (unsigned l = 0; l < nlines; l++) {
        fprintf(f, "<span><i style=\"background:%s\"></i>", lines[l].color);
        esc(f, lines[l].name);
        fprintf(f, "</span>");
    }
    fprintf(f, "</div></figure>\n");
}

/* Bars: each backend's share, one bar per run. */
static void share_bars(FILE *f, const struct sim_result *const *r, unsigned n)
{
    unsigned nb = r[0]->nb;
    double gw = (double)(W - L - 8) / (nb ? nb : 1), bw = gw * 0.8 / n;
    fprintf(f, "<figure><figcaption>share of attempts per backend (%%)</figcaption>\n");
    fprintf(f, "<svg class=\"chart\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" xmlns=\"http://www.w3.org/2000/svg\">\n",
            W, H, W, H);
    double max = 0;
    for (unsigned i = 0; i < n; i++)
        for (unsigned b = 0; b < r[i]->nb; b++) {
            uint64_t total = 0;
            for (unsigned k = 0; k < r[i]->nb; k++)
                total += r[i]->b[k].attempts;
            double s = total ? 100.0 * (double)r[i]->b[b].attempts / (double)total : 0;
            if (s > max)
                max = s;
        }
    max = nice_ceil(max);
    for (int g = 0; g <= 4; g++) {
        double y = T + (H - T - B) * (1 - g / 4.0);
        fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" class=\"grid\"/>", L, y, W - 8, y);
        fprintf(f, "<text x=\"%d\" y=\"%.1f\" class=\"ylab\">%g</text>\n", L - 6, y + 4, max * g / 4);
    }
    for (unsigned b = 0; b < nb; b++) {
        fprintf(f, "<text x=\"%.1f\" y=\"%d\" class=\"xlab\">", L + gw * (b + 0.5), H - 8);
        esc(f, r[0]->b[b].spec);
        fprintf(f, "</text>\n");
        for (unsigned i = 0; i < n; i++) {
            uint64_t total = 0;
            for (unsigned k = 0; k < r[i]->nb; k++)
                total += r[i]->b[k].attempts;
            double s = total && b < r[i]->nb ? 100.0 * (double)r[i]->b[b].attempts / (double)total : 0;
            double h = (H - T - B) * s / max;
            fprintf(f, "<rect class=\"bar\" data-run=\"%u\" data-share=\"%.2f\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"/>\n",
                    i + 1, s, L + gw * b + gw * 0.1 + bw * i, T + (H - T - B) - h, bw, h, colors[i % NCOLORS]);
        }
    }
    fprintf(f, "</svg>\n<div class=\"legend\">");
    for (unsigned i = 0; i < n; i++) {
        char label[64];
        fprintf(f, "<span><i style=\"background:%s\"></i>[%u] ", colors[i % NCOLORS], i + 1);
        esc(f, sim_run_label(r, n, i, label, sizeof(label)));
        fprintf(f, "</span>");
    }
    fprintf(f, "</div></figure>\n");
}

static double q(const struct sim_hist *h, double x)
{
    return sim_hist_quantile(h, x) * 1000;
}

static void summary(FILE *f, const struct sim_result *const *r, unsigned n)
{
    fprintf(f, "<table class=\"summary\"><tr><th></th>");
    for (unsigned i = 0; i < n; i++) {
        char label[64];
        fprintf(f, "<th>[%u] ", i + 1);
        esc(f, sim_run_label(r, n, i, label, sizeof(label)));
        fprintf(f, "</th>");
    }
    fprintf(f, "</tr>\n");
    static const char *const rows[] = { "requests", "p50 ms", "p95 ms", "p99 ms", "failed + backend 5xx", "retries",
                                        "max / mean share", "cv of attempts" };
    for (unsigned row = 0; row < 8; row++) {
        fprintf(f, "<tr><th>%s</th>", rows[row]);
        for (unsigned i = 0; i < n; i++) {
            double mm, cv;
            sim_imbalance(r[i], &mm, &cv);
            switch (row) {
            case 0:
                fprintf(f, "<td>%llu</td>", (unsigned long long)r[i]->requests);
                break;
            case 1:
            case 2:
            case 3:
                fprintf(f, "<td>%.2f</td>", q(&r[i]->lat, row == 1 ? 0.5 : row == 2 ? 0.95 : 0.99));
                break;
            case 4:
                fprintf(f, "<td>%llu</td>", (unsigned long long)(r[i]->failed + r[i]->http_5xx));
                break;
            case 5:
                fprintf(f, "<td>%llu</td>", (unsigned long long)r[i]->retries);
                break;
            case 6:
                fprintf(f, "<td>%.3f</td>", mm);
                break;
            default:
                fprintf(f, "<td>%.3f</td>", cv);
            }
        }
        fprintf(f, "</tr>\n");
    }
    fprintf(f, "</table>\n");
}

static void run_section(FILE *f, unsigned idx, const struct sim_result *r, const char *label)
{
    fprintf(f, "<section class=\"run\"><h2>[%u] ", idx + 1);
    esc(f, label);
    fprintf(f, "</h2><p>");
    esc(f, r->config);
    fprintf(f, ", upstream ");
    esc(f, r->upstream);
    fprintf(f, ": %llu requests over %.1f s simulated, %llu retries.</p>\n", (unsigned long long)r->requests,
            r->seconds, (unsigned long long)r->retries);
    fprintf(f, "<table><tr><th>backend</th><th>attempts</th><th>ok</th><th>5xx</th><th>connect</th><th>reset</th>"
               "<th>timeout</th><th>p50 ms</th><th>p95 ms</th><th>p99 ms</th><th>max in flight</th></tr>\n");
    for (unsigned b = 0; b < r->nb; b++) {
        const struct sim_backend_result *x = &r->b[b];
        fprintf(f, "<tr><td>");
        esc(f, x->spec);
        fprintf(f, "</td><td>%llu</td><td>%llu</td><td>%llu</td><td>%llu</td><td>%llu</td><td>%llu</td>"
                   "<td>%.2f</td><td>%.2f</td><td>%.2f</td><td>%lld</td></tr>\n",
                (unsigned long long)x->attempts, (unsigned long long)x->ok, (unsigned long long)x->failed[AR_HTTP_5XX],
                (unsigned long long)x->failed[AR_CONNECT], (unsigned long long)x->failed[AR_RESET],
                (unsigned long long)x->failed[AR_TIMEOUT], q(&x->lat, 0.5), q(&x->lat, 0.95), q(&x->lat, 0.99),
                (long long)x->max_inflight);
    }
    fprintf(f, "</table>\n");
    unsigned n = r->nseries ? r->nseries : 1;
    static double v[SIM_MAX_BACKENDS + 3][SIM_SERIES_MAX];
    struct line lines[SIM_MAX_BACKENDS];
    for (unsigned b = 0; b < r->nb; b++) {
        for (unsigned i = 0; i < n; i++)
            v[b][i] = r->series[i].attempts[b] / r->width;
        lines[b] = (struct line){ r->b[b].spec, v[b], colors[b % NCOLORS] };
    }
    chart(f, "load per backend", "attempts per second", lines, r->nb, n, r->width, r);
    for (unsigned b = 0; b < r->nb; b++)
        for (unsigned i = 0; i < n; i++)
            v[b][i] = r->series[i].busy[b] / r->width;
    chart(f, "in flight per backend", "mean attempts in flight", lines, r->nb, n, r->width, r);
    double *p50 = v[SIM_MAX_BACKENDS], *p99 = v[SIM_MAX_BACKENDS + 1];
    for (unsigned i = 0; i < n; i++) {
        p50[i] = sim_shist_quantile(r->series[i].lat, 0.5) * 1000;
        p99[i] = sim_shist_quantile(r->series[i].lat, 0.99) * 1000;
    }
    struct line lat[2] = { { "p50", p50, colors[0] }, { "p99", p99, colors[1] } };
    chart(f, "request latency over time", "ms, arrival to end", lat, 2, n, r->width, r);
    double *err = v[SIM_MAX_BACKENDS + 2];
    static double retries[SIM_SERIES_MAX];
    for (unsigned i = 0; i < n; i++) {
        err[i] = r->series[i].errors / r->width;
        retries[i] = r->series[i].retries / r->width;
    }
    struct line er[2] = { { "errors", err, colors[1] }, { "retries", retries, colors[3] } };
    chart(f, "errors and retries", "per second", er, 2, n, r->width, r);
    if (r->nchanges) {
        fprintf(f, "<table><tr><th>at</th><th>server</th><th>change</th><th>keys back</th><th>moved</th>"
                   "<th>had been on it</th></tr>\n");
        for (unsigned c = 0; c < r->nchanges; c++) {
            const struct sim_change *ch = &r->changes[c];
            fprintf(f, "<tr><td>%.1fs</td><td>", ch->at);
            esc(f, r->b[ch->backend].spec);
            fprintf(f, "</td><td>%s</td><td>%llu</td><td>%llu (%.1f%%)</td><td>%llu</td></tr>\n",
                    ch->kind == SIM_LEAVE ? "left" : "joined", (unsigned long long)ch->seen,
                    (unsigned long long)ch->moved, ch->seen ? 100.0 * (double)ch->moved / (double)ch->seen : 0,
                    (unsigned long long)ch->had_to);
        }
        fprintf(f, "</table>\n");
    }
    fprintf(f, "</section>\n");
}

void sim_report_html(FILE *f, const struct sim_report_info *info, const struct sim_result *const *r, unsigned n)
{
    fprintf(f, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>luxy simulate</title>\n"
               "<style>\n"
               "body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1500px}\n"
               "table{border-collapse:collapse;margin:8px 0 16px}td,th{border:1px solid #ccc;padding:3px 8px;"
               "text-align:right}th:first-child,td:first-child{text-align:left}\n"
               "figure{display:inline-block;margin:8px 16px 8px 0}figcaption{font-weight:600}\n"
               ".chart{background:#fafafa;border:1px solid #ddd}.grid{stroke:#ddd}.mark{stroke:#999;stroke-dasharray:4 3}\n"
               ".series{fill:none;stroke-width:1.6}.ylab{font-size:11px;text-anchor:end}.xlab{font-size:11px;"
               "text-anchor:middle}\n.legend span{margin-right:14px}.legend i{display:inline-block;width:10px;"
               "height:10px;margin-right:4px}\nsection.run{border-top:2px solid #eee;margin-top:16px}\n"
               "</style></head><body>\n<h1>luxy simulate</h1>\n<p>");
    esc(f, info->source);
    fprintf(f, "; model ");
    esc(f, info->model);
    fprintf(f, "; seed %llu; %u run%s on the same traffic.</p>\n", (unsigned long long)info->seed, n,
            n == 1 ? "" : "s");
    if (n) {
        summary(f, r, n);
        share_bars(f, r, n);
    }
    for (unsigned i = 0; i < n; i++)
    {
        char label[64];
        run_section(f, i, r[i], sim_run_label(r, n, i, label, sizeof(label)));
    }
    fprintf(f, "</body></html>\n");
}

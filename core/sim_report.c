/* sim_report.c - the terminal table and the JSON (sim_report.h); the HTML
 * page is sim_report_html.c. */
#include "sim_report.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

void sim_imbalance(const struct sim_result *r, double *max_over_mean, double *cv)
{
    double sum = 0, max = 0, sq = 0;
    for (unsigned i = 0; i < r->nb; i++) {
        double a = (double)r->b[i].attempts;
        sum += a, sq += a * a;
        if (a > max)
            max = a;
    }
    double mean = r->nb ? sum / r->nb : 0;
    *max_over_mean = mean > 0 ? max / mean : 0;
    double var = r->nb && mean > 0 ? sq / r->nb - mean * mean : 0;
    *cv = mean > 0 ? sqrt(var > 0 ? var : 0) / mean : 0;
}

const char *sim_run_label(const struct sim_result *const *r, unsigned n, unsigned i, char *buf, size_t len)
{
    bool same_config = true;
    for (unsigned k = 1; k < n; k++)
        same_config = same_config && strcmp(r[k]->config, r[0]->config) == 0;
    const char *base = strrchr(r[i]->config, '/');
    base = base ? base + 1 : r[i]->config;
    if (same_config)
        snprintf(buf, len, "%s", r[i]->strategy);
    else
        snprintf(buf, len, "%s", base);
    return buf;
}

static double ms(double s)
{
    return s * 1000;
}

static double share(const struct sim_result *r, unsigned i)
{
    uint64_t total = 0;
    for (unsigned k = 0; k < r->nb; k++)
        total += r->b[k].attempts;
    return total ? 100.0 * (double)r->b[i].attempts / (double)total : 0;
}

static uint64_t errors_of(const struct sim_backend_result *b)
{
    uint64_t n = 0;
    for (int k = 1; k < 5; k++)
        n += b->failed[k];
    return n;
}

static void one_text(FILE *f, unsigned idx, const struct sim_result *r)
{
    double mm, cv;
    sim_imbalance(r, &mm, &cv);
    fprintf(f, "\n[%u] %s  upstream %s  strategy %s\n", idx + 1, r->config, r->upstream, r->strategy);
    fprintf(f, "  %-28s %9s %7s %8s %9s %9s %9s %9s\n", "backend", "attempts", "share", "errors", "p50 ms", "p95 ms",
            "p99 ms", "max infl");
    for (unsigned i = 0; i < r->nb; i++) {
        const struct sim_backend_result *b = &r->b[i];
        fprintf(f, "  %-28.28s %9llu %6.1f%% %8llu %9.2f %9.2f %9.2f %9lld\n", b->spec, (unsigned long long)b->attempts,
                share(r, i), (unsigned long long)errors_of(b), ms(sim_hist_quantile(&b->lat, 0.50)),
                ms(sim_hist_quantile(&b->lat, 0.95)), ms(sim_hist_quantile(&b->lat, 0.99)),
                (long long)b->max_inflight);
    }
    fprintf(f, "  requests %llu in %.1f s: ok %llu, backend 5xx %llu, failed %llu; retries %llu\n",
            (unsigned long long)r->requests, r->seconds, (unsigned long long)r->ok, (unsigned long long)r->http_5xx,
            (unsigned long long)r->failed, (unsigned long long)r->retries);
    fprintf(f, "  latency (arrival to end) p50 %.2f ms  p95 %.2f ms  p99 %.2f ms  max %.2f ms\n",
            ms(sim_hist_quantile(&r->lat, 0.50)), ms(sim_hist_quantile(&r->lat, 0.95)),
            ms(sim_hist_quantile(&r->lat, 0.99)), ms(r->lat.max));
    fprintf(f, "  imbalance: max/mean share %.3f  cv %.3f\n", mm, cv);
    if (r->local || r->cache || r->other_route || r->bad)
        fprintf(f, "  not simulated: answered by luxy %llu, through the cache %llu, routed elsewhere %llu, unreadable %llu\n",
                (unsigned long long)r->local, (unsigned long long)r->cache, (unsigned long long)r->other_route,
                (unsigned long long)r->bad);
    for (unsigned c = 0; c < r->nchanges; c++) {
        const struct sim_change *ch = &r->changes[c];
        fprintf(f, "  at %.1fs %s %s: %llu keys came back, %llu moved (%.1f%%), %llu had been on it\n", ch->at,
                r->b[ch->backend].spec, ch->kind == SIM_LEAVE ? "left" : "joined", (unsigned long long)ch->seen,
                (unsigned long long)ch->moved, ch->seen ? 100.0 * (double)ch->moved / (double)ch->seen : 0,
                (unsigned long long)ch->had_to);
    }
}

void sim_report_text(FILE *f, const struct sim_report_info *info, const struct sim_result *const *r, unsigned n)
{
    fprintf(f, "luxy simulate: %s, model %s, seed %llu\n", info->source, info->model,
            (unsigned long long)info->seed);
    for (unsigned i = 0; i < n; i++)
        one_text(f, i, r[i]);
    if (n < 2)
        return;
    int w = 14; /* columns as wide as the widest label */
    char label[64];
    for (unsigned i = 0; i < n; i++)
        if ((int)strlen(sim_run_label(r, n, i, label, sizeof(label))) > w)
            w = (int)strlen(label);
    fprintf(f, "\ncompared                  ");
    for (unsigned i = 0; i < n; i++)
        fprintf(f, " %*s", w, sim_run_label(r, n, i, label, sizeof(label)));
    fprintf(f, "\n");
    static const char *const rows[] = { "p50 ms", "p95 ms", "p99 ms", "failed+5xx", "retries", "max/mean", "cv" };
    for (unsigned row = 0; row < 7; row++) {
        fprintf(f, "  %-24s", rows[row]);
        for (unsigned i = 0; i < n; i++) {
            double mm, cv;
            sim_imbalance(r[i], &mm, &cv);
            double v = row == 0   ? ms(sim_hist_quantile(&r[i]->lat, 0.5))
                       : row == 1 ? ms(sim_hist_quantile(&r[i]->lat, 0.95))
                       : row == 2 ? ms(sim_hist_quantile(&r[i]->lat, 0.99))
                       : row == 3 ? (double)(r[i]->failed + r[i]->http_5xx)
                       : row == 4 ? (double)r[i]->retries
                       : row == 5 ? mm
                                  : cv;
            fprintf(f, " %*.*f", w, row == 3 || row == 4 ? 0 : 3, v);
        }
        fprintf(f, "\n");
    }
    for (unsigned b = 0; b < r[0]->nb; b++) {
        fprintf(f, "  share %-18.18s", r[0]->b[b].spec);
        for (unsigned i = 0; i < n; i++)
            fprintf(f, " %*.1f%%", w - 1, b < r[i]->nb ? share(r[i], b) : 0.0);
        fprintf(f, "\n");
    }
}

/* A JSON string of text luxy or the user wrote (paths, specs): escaped. */
static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

static void json_hist(FILE *f, const struct sim_hist *h)
{
    fprintf(f, "{\"p50\":%.6f,\"p95\":%.6f,\"p99\":%.6f,\"max\":%.6f}", sim_hist_quantile(h, 0.5),
            sim_hist_quantile(h, 0.95), sim_hist_quantile(h, 0.99), h->max);
}

void sim_report_json(FILE *f, const struct sim_report_info *info, const struct sim_result *const *r, unsigned n)
{
    fprintf(f, "{\"source\":");
    json_str(f, info->source);
    fprintf(f, ",\"model\":");
    json_str(f, info->model);
    fprintf(f, ",\"seed\":%llu,\"runs\":[", (unsigned long long)info->seed);
    for (unsigned i = 0; i < n; i++) {
        const struct sim_result *x = r[i];
        double mm, cv;
        sim_imbalance(x, &mm, &cv);
        fprintf(f, "%s{\"config\":", i ? "," : "");
        json_str(f, x->config);
        fprintf(f, ",\"upstream\":");
        json_str(f, x->upstream);
        fprintf(f, ",\"strategy\":");
        json_str(f, x->strategy);
        fprintf(f,
                ",\"seconds\":%.3f,\"requests\":%llu,\"ok\":%llu,\"http_5xx\":%llu,\"failed\":%llu,\"retries\":%llu,"
                "\"local\":%llu,\"cache\":%llu,\"other_route\":%llu,\"unreadable\":%llu,\"events\":%llu,\"keys\":%llu,"
                "\"imbalance\":{\"max_over_mean\":%.4f,\"cv\":%.4f},\"latency\":",
                x->seconds, (unsigned long long)x->requests, (unsigned long long)x->ok,
                (unsigned long long)x->http_5xx, (unsigned long long)x->failed, (unsigned long long)x->retries,
                (unsigned long long)x->local, (unsigned long long)x->cache, (unsigned long long)x->other_route, (unsigned long long)x->bad,
                (unsigned long long)x->events, (unsigned long long)x->distinct_keys, mm, cv);
        json_hist(f, &x->lat);
        fprintf(f, ",\"backends\":[");
        for (unsigned b = 0; b < x->nb; b++) {
            const struct sim_backend_result *br = &x->b[b];
            fprintf(f, "%s{\"server\":", b ? "," : "");
            json_str(f, br->spec);
            fprintf(f,
                    ",\"attempts\":%llu,\"share\":%.4f,\"first\":%llu,\"ok\":%llu,\"errors\":{\"http_5xx\":%llu,"
                    "\"connect\":%llu,\"reset\":%llu,\"timeout\":%llu},\"max_inflight\":%lld,\"latency\":",
                    (unsigned long long)br->attempts, share(x, b) / 100, (unsigned long long)br->first,
                    (unsigned long long)br->ok, (unsigned long long)br->failed[AR_HTTP_5XX],
                    (unsigned long long)br->failed[AR_CONNECT], (unsigned long long)br->failed[AR_RESET],
                    (unsigned long long)br->failed[AR_TIMEOUT], (long long)br->max_inflight);
            json_hist(f, &br->lat);
            fprintf(f, "}");
        }
        fprintf(f, "],\"changes\":[");
        for (unsigned c = 0; c < x->nchanges; c++) {
            const struct sim_change *ch = &x->changes[c];
            fprintf(f, "%s{\"at\":%.3f,\"server\":", c ? "," : "", ch->at);
            json_str(f, x->b[ch->backend].spec);
            fprintf(f, ",\"change\":\"%s\",\"keys_seen\":%llu,\"keys_moved\":%llu,\"keys_had_to\":%llu}",
                    ch->kind == SIM_LEAVE ? "leave" : "join", (unsigned long long)ch->seen,
                    (unsigned long long)ch->moved, (unsigned long long)ch->had_to);
        }
        fprintf(f, "],\"series\":{\"width\":%.3f,\"attempts\":[", x->width);
        for (unsigned b = 0; b < x->nb; b++) {
            fprintf(f, "%s[", b ? "," : "");
            for (unsigned k = 0; k < x->nseries; k++)
                fprintf(f, "%s%u", k ? "," : "", x->series[k].attempts[b]);
            fprintf(f, "]");
        }
        fprintf(f, "],\"inflight\":[");
        for (unsigned b = 0; b < x->nb; b++) {
            fprintf(f, "%s[", b ? "," : "");
            for (unsigned k = 0; k < x->nseries; k++)
                fprintf(f, "%s%.3f", k ? "," : "", x->series[k].busy[b] / x->width);
            fprintf(f, "]");
        }
        fprintf(f, "]}}");
    }
    fprintf(f, "]}\n");
}

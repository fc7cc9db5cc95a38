/*
 * ldap-search-baseline: the C libldap equality-search rate that bench/run compares
 * Tollgate's Swift LDAPClient against (same slapd, same data, same run).
 *
 * Each of N threads opens its own LDAP* session, binds (simple), then loops synchronous
 * ldap_search_ext_s((uid=userR)) with a random R in [0, K) for S seconds, checking that
 * exactly one entry comes back. --filter FMT replaces the filter: a printf format with one
 * %ld for R, e.g. '(cn=dest-%ld)' (bench/access-run). Prints one machine-readable line:
 *
 *   ops=... seconds=... rate=... p50_ms=... p99_ms=... errors=... cpu_us_per_op=...
 *
 * cpu_us_per_op: this process's user + system CPU time during the measured run, per operation.
 *
 * ops counts successful searches; errors counts failed ones and wrong entry counts.
 *
 * Build: cc -O2 -o ldap-search-baseline ldap-search-baseline.c -lldap -llber -lpthread
 */
#define LDAP_DEPRECATED 0
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <ldap.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/resource.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct options {
    const char *url, *bind_dn, *password, *base, *filter;
    int connections;
    double seconds;
    long count;
};

struct worker {
    pthread_t thread;
    int index;
    const struct options *opts;
    LDAP *ld;
    uint64_t *latencies; /* nanoseconds, successful ops only */
    size_t ops, capacity;
    long errors;
};

static pthread_barrier_t start_barrier;
static uint64_t deadline_ns;

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* User + system CPU time of the whole process, in seconds. */
static double cpu_seconds(void) {
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    return usage.ru_utime.tv_sec + usage.ru_stime.tv_sec + (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

/* SplitMix64: a cheap per-thread generator (no locks, no system calls). */
static uint64_t splitmix64(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static int connect_and_bind(const struct options *o, LDAP **out) {
    LDAP *ld = NULL;
    int rc = ldap_initialize(&ld, o->url);
    if (rc != LDAP_SUCCESS) {
        fprintf(stderr, "ldap_initialize(%s): %s\n", o->url, ldap_err2string(rc));
        return -1;
    }
    int version = LDAP_VERSION3;
    ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &version);
    ldap_set_option(ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF);
    struct berval cred = { strlen(o->password), (char *)o->password };
    rc = ldap_sasl_bind_s(ld, o->bind_dn, LDAP_SASL_SIMPLE, &cred, NULL, NULL, NULL);
    if (rc != LDAP_SUCCESS) {
        fprintf(stderr, "bind %s: %s\n", o->bind_dn, ldap_err2string(rc));
        ldap_unbind_ext_s(ld, NULL, NULL);
        return -1;
    }
    *out = ld;
    return 0;
}

static void record(struct worker *w, uint64_t latency) {
    if (w->ops == w->capacity) {
        w->capacity = w->capacity ? w->capacity * 2 : 65536;
        w->latencies = realloc(w->latencies, w->capacity * sizeof *w->latencies);
        if (!w->latencies) { perror("realloc"); exit(1); }
    }
    w->latencies[w->ops++] = latency;
}

static void *run_worker(void *arg) {
    struct worker *w = arg;
    const struct options *o = w->opts;
    uint64_t rng = now_ns() ^ ((uint64_t)(w->index + 1) * 0x9E3779B97F4A7C15ull);
    char *attrs[] = { "cn", NULL };
    char filter[256];

    pthread_barrier_wait(&start_barrier);
    while (now_ns() < deadline_ns) {
        long r = (long)(splitmix64(&rng) % (uint64_t)o->count);
        snprintf(filter, sizeof filter, o->filter, r);
        LDAPMessage *res = NULL;
        uint64_t start = now_ns();
        int rc = ldap_search_ext_s(w->ld, o->base, LDAP_SCOPE_SUBTREE, filter, attrs, 0,
                                   NULL, NULL, NULL, 0, &res);
        int entries = (rc == LDAP_SUCCESS && res) ? ldap_count_entries(w->ld, res) : -1;
        uint64_t latency = now_ns() - start;
        if (res) ldap_msgfree(res);
        if (entries == 1) {
            record(w, latency);
        } else {
            w->errors++;
        }
    }
    return NULL;
}

static int compare_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static void usage(const char *argv0) {
    fprintf(stderr,
            "usage: %s --url URL --bind-dn DN --password PW --base BASE\n"
            "          [--connections N] [--seconds S] [--count K] [--filter FMT]\n", argv0);
    exit(2);
}

int main(int argc, char **argv) {
    struct options o = { NULL, NULL, NULL, NULL, "(uid=user%ld)", 1, 10.0, 100000 };
    static const struct option longopts[] = {
        { "url", required_argument, NULL, 'u' },
        { "bind-dn", required_argument, NULL, 'D' },
        { "password", required_argument, NULL, 'w' },
        { "base", required_argument, NULL, 'b' },
        { "connections", required_argument, NULL, 'c' },
        { "seconds", required_argument, NULL, 's' },
        { "count", required_argument, NULL, 'k' },
        { "filter", required_argument, NULL, 'f' },
        { NULL, 0, NULL, 0 },
    };
    int ch;
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case 'u': o.url = optarg; break;
        case 'D': o.bind_dn = optarg; break;
        case 'w': o.password = optarg; break;
        case 'b': o.base = optarg; break;
        case 'c': o.connections = atoi(optarg); break;
        case 's': o.seconds = atof(optarg); break;
        case 'k': o.count = atol(optarg); break;
        case 'f': o.filter = optarg; break;
        default: usage(argv[0]);
        }
    }
    if (!o.url || !o.bind_dn || !o.password || !o.base || o.connections < 1 || o.seconds <= 0 ||
        o.count < 1)
        usage(argv[0]);
    /* The filter format takes exactly one %ld and nothing else that printf would expand. */
    const char *conversion = strchr(o.filter, '%');
    if (!conversion || strncmp(conversion, "%ld", 3) != 0 || strchr(conversion + 3, '%')) {
        fprintf(stderr, "--filter must contain exactly one %%ld (and no other %%)\n");
        return 2;
    }

    struct worker *workers = calloc((size_t)o.connections, sizeof *workers);
    if (!workers) { perror("calloc"); return 1; }
    for (int i = 0; i < o.connections; i++) {
        workers[i].index = i;
        workers[i].opts = &o;
        if (connect_and_bind(&o, &workers[i].ld) != 0) return 1;
    }

    /* All sessions are bound before the clock starts; the main thread joins the barrier. */
    pthread_barrier_init(&start_barrier, NULL, (unsigned)o.connections + 1);
    for (int i = 0; i < o.connections; i++) {
        if (pthread_create(&workers[i].thread, NULL, run_worker, &workers[i]) != 0) {
            perror("pthread_create");
            return 1;
        }
    }
    double cpu_started = cpu_seconds();
    uint64_t started = now_ns();
    deadline_ns = started + (uint64_t)(o.seconds * 1e9);
    pthread_barrier_wait(&start_barrier);
    for (int i = 0; i < o.connections; i++) pthread_join(workers[i].thread, NULL);
    double elapsed = (double)(now_ns() - started) / 1e9;
    double cpu = cpu_seconds() - cpu_started;

    size_t ops = 0;
    long errors = 0;
    for (int i = 0; i < o.connections; i++) { ops += workers[i].ops; errors += workers[i].errors; }
    uint64_t *all = malloc((ops ? ops : 1) * sizeof *all);
    if (!all) { perror("malloc"); return 1; }
    size_t n = 0;
    for (int i = 0; i < o.connections; i++) {
        memcpy(all + n, workers[i].latencies, workers[i].ops * sizeof *all);
        n += workers[i].ops;
        free(workers[i].latencies);
        ldap_unbind_ext_s(workers[i].ld, NULL, NULL);
    }
    qsort(all, ops, sizeof *all, compare_u64);
    double p50 = 0, p99 = 0;
    if (ops) {
        size_t i50 = (size_t)(ops * 0.50), i99 = (size_t)(ops * 0.99);
        p50 = all[i50 < ops ? i50 : ops - 1] / 1e6;
        p99 = all[i99 < ops ? i99 : ops - 1] / 1e6;
    }
    printf("ops=%zu seconds=%.3f rate=%.1f p50_ms=%.3f p99_ms=%.3f errors=%ld cpu_us_per_op=%.1f\n", ops,
           elapsed, elapsed > 0 ? ops / elapsed : 0.0, p50, p99, errors, ops ? cpu * 1e6 / ops : 0.0);
    free(all);
    free(workers);
    return ops > 0 ? 0 : 1;
}

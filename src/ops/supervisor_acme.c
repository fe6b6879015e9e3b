/*
 * supervisor_acme.c - the supervisor's part in ACME certificates: run `mcpgw renew-certs` as a
 * child once the router has been health-checked (so the first certificate is issued as soon as
 * the challenges can be served, and a missing one is noticed at every start), then once a day
 * with jitter, and after a failure again in 10 minutes, doubling up to a day
 * (acme_renewal_delay_ms). The child does the work, logs each step into the router's log and
 * sends the router SIGHUP when it installed a certificate; here we only schedule and reap it.
 */
#include "supervisor_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "certificates.h"
#include "core/acme_paths.h"
#include "core/crypto.h"
#include "core/log.h"

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static double random01(void)
{
    unsigned int r = 0;
    if (crypto_random_bytes(&r, sizeof(r)) != GW_OK)
        return 0.5;
    return (double)r / 4294967296.0;
}

/* The router runs and has been health-checked (healthy, or unhealthy after its start-up grace:
 * an unhealthy router, e.g. waiting for auth's keys, still serves the challenges). */
static bool router_up(const struct supervisor *sv)
{
    for (size_t i = 0; i < sv->nchildren; i++)
        if (strcmp(sv->children[i].spec->name, "router") == 0)
            return sv->children[i].state == CHILD_RUNNING && strcmp(sv->children[i].health, "starting") != 0;
    return false;
}

static void start_run(struct supervisor *sv)
{
    const char *argv[6];
    size_t n = 0;
    argv[n++] = service_self_exe();
    argv[n++] = "renew-certs";
    if (sv->env_file) {
        argv[n++] = "--env-file";
        argv[n++] = sv->env_file;
    }
    argv[n] = NULL;
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        log_write(LOG_ERROR, "ACME: cannot start the certificate check",
                  (struct log_field[]){log_str("error", strerror(errno))}, 1);
        sv->acme_failures++;
        sv->acme_next_ms = now_ms() + acme_renewal_delay_ms(sv->acme_failures, random01());
        return;
    }
    if (pid == 0) {
        /* stdout is the operator's summary; the log lines go to the router's log */
        supervisor_child_setup(sv, parent, -1);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    sv->acme_pid = pid;
    log_write(LOG_INFO, "ACME: certificate check started (mcpgw renew-certs; details in the router's log)",
              (struct log_field[]){log_int("pid", pid)}, 1);
}

void supervisor_acme_tick(struct supervisor *sv)
{
    if (sv->stopping || sv->acme_pid > 0 || !acme_enabled(sv->cfg) ||
        !service_table_find(&sv->table, "router"))
        return;
    if (sv->acme_next_ms == 0 ? !router_up(sv) : now_ms() < sv->acme_next_ms)
        return;
    start_run(sv);
}

bool supervisor_acme_reaped(struct supervisor *sv, pid_t pid, int status)
{
    if (pid <= 0 || pid != sv->acme_pid)
        return false;
    sv->acme_pid = 0;
    bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    sv->acme_failures = ok ? 0 : sv->acme_failures + 1;
    long long delay = acme_renewal_delay_ms(sv->acme_failures, random01());
    sv->acme_next_ms = now_ms() + delay;
    if (ok)
        log_write(LOG_INFO, "ACME: certificate check done; next in about a day",
                  (struct log_field[]){log_int("next_in_s", delay / 1000)}, 1);
    else
        log_write(LOG_ERROR,
                  "ACME: certificate check failed (see mcpgw logs router | grep -i acme); retrying later",
                  (struct log_field[]){log_int("exit_code", WIFEXITED(status) ? WEXITSTATUS(status) : -1),
                                       log_int("failures", sv->acme_failures),
                                       log_int("next_in_s", delay / 1000)},
                  3);
    return true;
}

void supervisor_acme_stop(struct supervisor *sv)
{
    if (sv->acme_pid <= 0)
        return;
    kill(sv->acme_pid, SIGTERM);
    int status;
    while (waitpid(sv->acme_pid, &status, 0) < 0 && errno == EINTR)
        ;
    sv->acme_pid = 0;
}

/*
 * acme_outcome.h - what a run of the ACME client (uacme) means, in plain words.
 *
 * uacme reports on stderr: its own steps ("uacme: ..."), network failures from libcurl
 * ("curl_get: GET URL failed: Couldn't connect to server"), and when the ACME server refused
 * something, the server's RFC 8555 §6.7 problem document (a JSON object after "the server
 * reported the following error:"). Its exit status is 0 issued, 1 still current (not
 * reissued), 2 failure. This module turns that text and status into one failure kind with an
 * operator's explanation: DNS not pointing here, port 80 unreachable, rate limited, ...
 * The problem document comes from the ACME server, so the parser takes any bytes.
 */
#ifndef MCPGW_OPS_ACME_OUTCOME_H
#define MCPGW_OPS_ACME_OUTCOME_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"

enum acme_status {
    ACME_ISSUED,  /* a new certificate was saved */
    ACME_CURRENT, /* the certificate is still valid for longer than the renewal window */
    ACME_FAILED,
};

enum acme_failure {
    ACME_FAIL_NONE,
    ACME_FAIL_DNS,                /* the CA could not resolve the host (no A/AAAA record, SERVFAIL) */
    ACME_FAIL_CONNECTION,         /* the CA could not connect to the host on port 80 */
    ACME_FAIL_UNAUTHORIZED,       /* something answered on port 80 but not with our challenge */
    ACME_FAIL_RATE_LIMITED,       /* the CA's rate limits */
    ACME_FAIL_CAA,                /* a CAA record forbids this CA */
    ACME_FAIL_REJECTED,           /* the CA does not issue for this name (policy, .local, ...) */
    ACME_FAIL_ACCOUNT,            /* account problem: e-mail refused, account unknown, ToS */
    ACME_FAIL_SERVER_UNREACHABLE, /* we could not reach the ACME directory */
    ACME_FAIL_SERVER_UNTRUSTED,   /* the ACME directory's HTTPS certificate is not trusted */
    ACME_FAIL_OTHER,
};

struct acme_outcome {
    enum acme_status status;
    enum acme_failure failure;
    char problem_type[128]; /* "urn:ietf:params:acme:error:connection" or "" */
    char detail[1024];      /* the server's detail (or uacme's last error line), one line */
};

/* Read uacme's stderr (text, len bytes, any content) and exit status (exit_code; negative:
 * killed or could not run) into *out. */
void acme_outcome_parse(const char *text, size_t len, int exit_code, struct acme_outcome *out);

/* A short label for a failure kind: "port 80 unreachable", "DNS not pointing here", ... Static. */
const char *acme_failure_label(enum acme_failure failure);

/* One line for the operator: label, what happened for host, what to check, the server's detail.
 * http_port is the router's HTTP_PORT (the CA always connects to port 80). Appended to out. */
void acme_outcome_explain(const struct acme_outcome *o, const char *host, int http_port, struct buf *out);

#endif

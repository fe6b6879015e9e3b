/*
 * acme_outcome.c - uacme's exit status and stderr to a failure kind (see acme_outcome.h).
 */
#include "acme_outcome.h"

#include <stdio.h>
#include <string.h>

#include <jansson.h>

#define PROBLEM_MARK "the server reported the following error:"
#define ACME_URN "urn:ietf:params:acme:error:"

static const char *find_bounded(const char *hay, size_t len, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; n <= len && i <= len - n; i++)
        if (memcmp(hay + i, needle, n) == 0)
            return hay + i;
    return NULL;
}

/* Copy at most cap-1 bytes of s, with control characters as spaces (one line for the log). */
static void copy_line(char *dst, size_t cap, const char *s, size_t len)
{
    size_t n = len < cap - 1 ? len : cap - 1;
    for (size_t i = 0; i < n; i++)
        dst[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? ' ' : s[i];
    dst[n] = '\0';
}

static enum acme_failure failure_of_type(const char *type)
{
    static const struct {
        const char *name;
        enum acme_failure failure;
    } map[] = {
        {"dns", ACME_FAIL_DNS},
        {"connection", ACME_FAIL_CONNECTION},
        {"unauthorized", ACME_FAIL_UNAUTHORIZED},
        {"incorrectResponse", ACME_FAIL_UNAUTHORIZED},
        {"rateLimited", ACME_FAIL_RATE_LIMITED},
        {"caa", ACME_FAIL_CAA},
        {"rejectedIdentifier", ACME_FAIL_REJECTED},
        {"invalidContact", ACME_FAIL_ACCOUNT},
        {"unsupportedContact", ACME_FAIL_ACCOUNT},
        {"accountDoesNotExist", ACME_FAIL_ACCOUNT},
        {"userActionRequired", ACME_FAIL_ACCOUNT},
        {"externalAccountRequired", ACME_FAIL_ACCOUNT},
    };
    if (strncmp(type, ACME_URN, strlen(ACME_URN)) != 0)
        return ACME_FAIL_OTHER;
    type += strlen(ACME_URN);
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (strcmp(type, map[i].name) == 0)
            return map[i].failure;
    return ACME_FAIL_OTHER;
}

/* The first problem document after PROBLEM_MARK: type and detail; a compound problem's (or one
 * without a specific type) first subproblem with a type that says more. true when found. */
static bool parse_problem(const char *text, size_t len, struct acme_outcome *out)
{
    const char *mark = find_bounded(text, len, PROBLEM_MARK);
    if (!mark)
        return false;
    const char *brace = memchr(mark, '{', len - (size_t)(mark - text));
    if (!brace)
        return false;
    json_error_t jerr;
    json_t *doc = json_loadb(brace, len - (size_t)(brace - text), JSON_DISABLE_EOF_CHECK, &jerr);
    if (!json_is_object(doc)) {
        json_decref(doc);
        return false;
    }
    const char *type = json_string_value(json_object_get(doc, "type"));
    const char *detail = json_string_value(json_object_get(doc, "detail"));
    json_t *subs = json_object_get(doc, "subproblems");
    if ((!type || failure_of_type(type) == ACME_FAIL_OTHER) && json_array_size(subs) > 0) {
        json_t *first = json_array_get(subs, 0);
        const char *st = json_string_value(json_object_get(first, "type"));
        const char *sd = json_string_value(json_object_get(first, "detail"));
        if (st) {
            type = st;
            detail = sd ? sd : detail;
        }
    }
    copy_line(out->problem_type, sizeof(out->problem_type), type ? type : "", type ? strlen(type) : 0);
    copy_line(out->detail, sizeof(out->detail), detail ? detail : "", detail ? strlen(detail) : 0);
    json_decref(doc);
    return true;
}

/* The last line that looks like an error of uacme or libcurl, as the detail. */
static void last_error_line(const char *text, size_t len, struct acme_outcome *out)
{
    const char *best = NULL;
    size_t best_len = 0;
    for (size_t i = 0; i < len;) {
        const char *line = text + i;
        const char *nl = memchr(line, '\n', len - i);
        size_t n = nl ? (size_t)(nl - line) : len - i;
        if (n > 0 && (find_bounded(line, n, "failed") || find_bounded(line, n, "error") ||
                      find_bounded(line, n, "Error") || find_bounded(line, n, "not ") ||
                      find_bounded(line, n, "invalid"))) {
            best = line;
            best_len = n;
        }
        i += n + 1;
    }
    if (best)
        copy_line(out->detail, sizeof(out->detail), best, best_len);
}

void acme_outcome_parse(const char *text, size_t len, int exit_code, struct acme_outcome *out)
{
    memset(out, 0, sizeof(*out));
    if (!text)
        len = 0;
    if (exit_code == 0) {
        out->status = ACME_ISSUED;
        return;
    }
    if (exit_code == 1) {
        out->status = ACME_CURRENT;
        return;
    }
    out->status = ACME_FAILED;
    out->failure = ACME_FAIL_OTHER;
    if (len && parse_problem(text, len, out)) {
        out->failure = failure_of_type(out->problem_type);
        return;
    }
    if (len) {
        last_error_line(text, len, out);
        /* libcurl's words when the directory itself cannot be reached or trusted */
        if (find_bounded(text, len, "SSL peer certificate") ||
            find_bounded(text, len, "SSL certificate problem") ||
            find_bounded(text, len, "certificate verify"))
            out->failure = ACME_FAIL_SERVER_UNTRUSTED;
        else if (find_bounded(text, len, "Couldn't connect to server") ||
                 find_bounded(text, len, "Couldn't resolve host") ||
                 find_bounded(text, len, "Timeout was reached") ||
                 find_bounded(text, len, "failed to fetch directory"))
            out->failure = ACME_FAIL_SERVER_UNREACHABLE;
    }
    if (!out->detail[0])
        snprintf(out->detail, sizeof(out->detail),
                 exit_code < 0 ? "the ACME client was killed or could not run"
                               : "the ACME client failed (exit status %d)",
                 exit_code);
}

const char *acme_failure_label(enum acme_failure failure)
{
    switch (failure) {
    case ACME_FAIL_NONE:
        return "ok";
    case ACME_FAIL_DNS:
        return "DNS not pointing here";
    case ACME_FAIL_CONNECTION:
        return "port 80 unreachable";
    case ACME_FAIL_UNAUTHORIZED:
        return "challenge not served here (DNS points elsewhere?)";
    case ACME_FAIL_RATE_LIMITED:
        return "rate limited";
    case ACME_FAIL_CAA:
        return "CAA record forbids this CA";
    case ACME_FAIL_REJECTED:
        return "name refused by the CA";
    case ACME_FAIL_ACCOUNT:
        return "ACME account problem";
    case ACME_FAIL_SERVER_UNREACHABLE:
        return "ACME server unreachable";
    case ACME_FAIL_SERVER_UNTRUSTED:
        return "ACME server certificate not trusted";
    case ACME_FAIL_OTHER:
    default:
        return "ACME error";
    }
}

void acme_outcome_explain(const struct acme_outcome *o, const char *host, int http_port, struct buf *out)
{
    char port_note[96] = "";
    if (http_port != 80)
        snprintf(port_note, sizeof(port_note), " (forwarded to HTTP_PORT %d here)", http_port);
    buf_printf(out, "%s: ", acme_failure_label(o->failure));
    switch (o->failure) {
    case ACME_FAIL_DNS:
        buf_printf(out, "the CA could not resolve %s; create an A/AAAA record pointing at this machine",
                   host);
        break;
    case ACME_FAIL_CONNECTION:
        buf_printf(out,
                   "the CA could not connect to http://%s/ on port 80%s; check that DNS points here, the "
                   "firewall lets port 80 in and the router runs",
                   host, port_note);
        break;
    case ACME_FAIL_UNAUTHORIZED:
        buf_printf(out,
                   "the CA reached a web server for %s that did not serve the challenge; DNS may point to "
                   "another machine, or another server answers port 80",
                   host);
        break;
    case ACME_FAIL_RATE_LIMITED:
        buf_printf(out,
                   "the CA refuses more certificates for %s for now; wait (see the detail for when), "
                   "and test with the staging directory",
                   host);
        break;
    case ACME_FAIL_CAA:
        buf_printf(out, "a DNS CAA record of %s does not allow this CA", host);
        break;
    case ACME_FAIL_REJECTED:
        buf_printf(out, "the CA will not issue a certificate for %s", host);
        break;
    case ACME_FAIL_ACCOUNT:
        buf_printf(out, "check ACME_EMAIL and the account in DATA_DIR/acme");
        break;
    case ACME_FAIL_SERVER_UNREACHABLE:
        buf_printf(out, "cannot reach ACME_DIRECTORY_URL from this machine (DNS, proxy or firewall)");
        break;
    case ACME_FAIL_SERVER_UNTRUSTED:
        buf_printf(out, "the ACME directory's HTTPS certificate is not trusted (a private CA needs "
                        "ACME_CA_BUNDLE)");
        break;
    default:
        buf_printf(out, "certificate for %s not obtained", host);
        break;
    }
    if (o->problem_type[0] || o->detail[0])
        buf_printf(out, " [%s%s%s]", o->problem_type, o->problem_type[0] && o->detail[0] ? ": " : "",
                   o->detail);
}

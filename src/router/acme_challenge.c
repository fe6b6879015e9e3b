/*
 * acme_challenge.c - HTTP-01 challenge files and the HTTP -> HTTPS redirect (see
 * acme_challenge.h).
 */
#include "router/acme_challenge.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"

/* Read dir/token into buf (at most ACME_CHALLENGE_MAX_BYTES); -1 when it is not a readable
 * regular file of acceptable size. */
static ssize_t read_challenge(const char *dir, const char *token, char *buf)
{
    char path[4096];
    if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, token) >= sizeof(path))
        return -1;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return -1;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > ACME_CHALLENGE_MAX_BYTES) {
        close(fd);
        return -1;
    }
    size_t got = 0;
    while (got < ACME_CHALLENGE_MAX_BYTES) {
        ssize_t r = read(fd, buf + got, ACME_CHALLENGE_MAX_BYTES - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            close(fd);
            return -1;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    return (ssize_t)got;
}

bool acme_challenge_route(struct http_exchange *ex, const char *dir)
{
    const struct http_request *req = http_request(ex);
    size_t plen = strlen(ACME_CHALLENGE_PREFIX);
    if (strncmp(req->path, ACME_CHALLENGE_PREFIX, plen) != 0)
        return false;
    if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) {
        http_response_header(ex, "Allow", "GET, HEAD");
        http_respond_error(ex, 405, "method_not_allowed", "challenge files are read with GET");
        return true;
    }
    const char *token = req->path + plen;
    char body[ACME_CHALLENGE_MAX_BYTES];
    ssize_t n = acme_challenge_token_ok(token, strlen(token)) ? read_challenge(dir, token, body) : -1;
    if (n < 0) {
        http_respond_error(ex, 404, "not_found", "no such challenge");
        return true;
    }
    http_response_header(ex, "Cache-Control", "no-store");
    http_respond(ex, 200, "application/octet-stream", body, (size_t)n);
    return true;
}

/* A Host value we are willing to put into a Location: a DNS name, IPv4, or [IPv6], with an
 * optional :port. Copies the name part (without port) into name. */
static bool host_name_part(const char *host, char *name, size_t cap)
{
    size_t len = strlen(host), end = len;
    if (len == 0)
        return false;
    if (host[0] == '[') {
        const char *close = strchr(host, ']');
        if (!close)
            return false;
        end = (size_t)(close - host) + 1;
        for (size_t i = 1; i + 1 < end; i++)
            if (!strchr("0123456789abcdefABCDEF:.", host[i]))
                return false;
    } else {
        const char *colon = strchr(host, ':');
        if (colon)
            end = (size_t)(colon - host);
        if (end == 0)
            return false;
        for (size_t i = 0; i < end; i++) {
            char c = host[i];
            if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                  c == '.'))
                return false;
        }
    }
    if (end < len) { /* the port: digits only */
        if (host[end] != ':' || end + 1 == len)
            return false;
        for (size_t i = end + 1; i < len; i++)
            if (host[i] < '0' || host[i] > '9')
                return false;
    }
    if (end >= cap)
        return false;
    memcpy(name, host, end);
    name[end] = '\0';
    return true;
}

bool https_redirect_location(const struct http_exchange *ex, int https_port, char *out, size_t cap)
{
    return https_location_for(http_header(ex, "Host"), http_request(ex)->target, https_port, out, cap);
}

bool https_location_for(const char *host, const char *target, int https_port, char *out, size_t cap)
{
    char name[256];
    if (!host || !host_name_part(host, name, sizeof(name)))
        return false;
    if (!target || target[0] != '/')
        target = "/"; /* absolute-form or asterisk-form: send them to the root */
    for (const char *p = target; *p; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7f)
            return false; /* the parser refuses these already; never put them in a header */
    int n = https_port == 443 || https_port <= 0
                ? snprintf(out, cap, "https://%s%s", name, target)
                : snprintf(out, cap, "https://%s:%d%s", name, https_port, target);
    return n > 0 && (size_t)n < cap;
}

void https_redirect(struct http_exchange *ex, int https_port)
{
    char location[8192 + 300];
    if (!https_redirect_location(ex, https_port, location, sizeof(location))) {
        http_respond_error(ex, 400, "invalid_request", "missing or invalid Host header");
        return;
    }
    http_response_header(ex, "Location", location);
    http_respond(ex, 308, "text/plain", "Redirecting to HTTPS\n", 21);
}

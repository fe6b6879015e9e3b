/*
 * oauth_flow_http.c - the blocking HTTP session, URL helpers and loopback listener of
 * `mcpgw test-oauth-flow` (see oauth_flow_internal.h). A command-line tool that does one
 * request after the other, so libcurl's easy interface is enough here.
 */
#include "oauth_flow_internal.h"

#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <curl/curl.h>

#include "core/alloc.h"
#include "core/urlform.h"

/* ---- the session ---- */

enum gw_err flow_http_init(struct flow_http *h, long timeout_ms, const char *ca_file)
{
    memset(h, 0, sizeof(*h));
    CURL *curl = curl_easy_init();
    if (!curl)
        return GW_ERR_IO;
    curl_easy_setopt(curl, CURLOPT_COOKIEFILE, ""); /* cookie engine on, in memory only */
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "mcpgw-test-oauth-flow/" MCPGW_VERSION);
    curl_easy_setopt(curl, CURLOPT_ACCEPT_ENCODING, "");
    if (ca_file)
        curl_easy_setopt(curl, CURLOPT_CAINFO, ca_file);
    h->curl = curl;
    h->timeout_ms = timeout_ms;
    return GW_OK;
}

void flow_http_cleanup(struct flow_http *h)
{
    if (h->curl)
        curl_easy_cleanup(h->curl);
    h->curl = NULL;
}

void flow_response_free(struct flow_response *r)
{
    buf_free(&r->body);
    free(r->location);
    free(r->content_type);
    free(r->www_authenticate);
    free(r->session_id);
    free(r->protocol_version);
    r->location = r->content_type = r->www_authenticate = r->session_id = r->protocol_version = NULL;
}

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
    struct flow_response *r = arg;
    if (buf_append(&r->body, data, size * n) != GW_OK)
        return 0; /* over FLOW_MAX_BODY: curl stops with a write error */
    return size * n;
}

/* Keep the value of a header we care about (the last one wins, as after a 100 Continue). */
static void keep_header(char **slot, const char *value, size_t len)
{
    while (len && (value[len - 1] == '\r' || value[len - 1] == '\n' || value[len - 1] == ' '))
        len--;
    while (len && (*value == ' ' || *value == '\t'))
        value++, len--;
    free(*slot);
    *slot = gw_strndup(value, len);
}

static size_t on_header(char *data, size_t size, size_t n, void *arg)
{
    struct flow_response *r = arg;
    size_t len = size * n;
    static const struct {
        const char *name;
        size_t offset;
    } wanted[] = {
        {"location", offsetof(struct flow_response, location)},
        {"content-type", offsetof(struct flow_response, content_type)},
        {"www-authenticate", offsetof(struct flow_response, www_authenticate)},
        {"mcp-session-id", offsetof(struct flow_response, session_id)},
        {"mcp-protocol-version", offsetof(struct flow_response, protocol_version)},
    };
    const char *colon = memchr(data, ':', len);
    if (!colon)
        return len;
    size_t nlen = (size_t)(colon - data);
    for (size_t i = 0; i < sizeof(wanted) / sizeof(wanted[0]); i++)
        if (nlen == strlen(wanted[i].name) && strncasecmp(data, wanted[i].name, nlen) == 0)
            keep_header((char **)((char *)r + wanted[i].offset), colon + 1, len - nlen - 1);
    return len;
}

bool flow_http_do(struct flow_http *h, const struct flow_request *req, struct flow_response *out)
{
    memset(out, 0, sizeof(*out));
    buf_init(&out->body, FLOW_MAX_BODY);
    CURL *curl = h->curl;
    const char *method = req->method ? req->method : "GET";
    struct curl_slist *headers = NULL;
    char line[8192];
    if (req->content_type) {
        snprintf(line, sizeof(line), "Content-Type: %s", req->content_type);
        headers = curl_slist_append(headers, line);
    }
    if (req->accept) {
        snprintf(line, sizeof(line), "Accept: %s", req->accept);
        headers = curl_slist_append(headers, line);
    }
    struct buf auth;
    buf_init(&auth, 64 * 1024);
    if (req->bearer) {
        buf_printf(&auth, "Authorization: Bearer %s", req->bearer);
        headers = curl_slist_append(headers, buf_cstr(&auth));
    }
    for (const char *const *e = req->extra; e && *e; e++)
        headers = curl_slist_append(headers, *e);
    headers = curl_slist_append(headers, "Expect:"); /* no 100-continue round trip */

    curl_easy_setopt(curl, CURLOPT_URL, req->url);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, h->timeout_ms);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, h->timeout_ms);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, out);
    if (req->body) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, req->body);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)strlen(req->body));
        curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, strcmp(method, "POST") == 0 ? NULL : method);
    } else {
        curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, strcmp(method, "GET") == 0 ? NULL : method);
    }
    char errbuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
    CURLcode rc = curl_easy_perform(curl);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, NULL);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(headers);
    /* the Authorization line held the token: wipe our copy */
    if (auth.data)
        memset(auth.data, 0, auth.len);
    buf_free(&auth);
    if (rc != CURLE_OK) {
        snprintf(out->error, sizeof(out->error), "%s", errbuf[0] ? errbuf : curl_easy_strerror(rc));
        out->status = 0;
        return false;
    }
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &out->status);
    return true;
}

/* ---- URLs ---- */

char *flow_url_resolve(const char *base, const char *ref)
{
    CURLU *u = curl_url();
    char *out = NULL;
    if (u && curl_url_set(u, CURLUPART_URL, base, 0) == CURLUE_OK &&
        curl_url_set(u, CURLUPART_URL, ref, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_URL, &out, 0) == CURLUE_OK) {
        char *copy = gw_strdup(out);
        curl_free(out);
        curl_url_cleanup(u);
        return copy;
    }
    curl_url_cleanup(u);
    return NULL;
}

char *flow_url_origin(const char *url)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL;
    char *out = NULL;
    if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK) {
        struct buf b;
        buf_init(&b, 4096);
        for (const char *c = host; *c; c++)
            buf_append_char(&b, (char)tolower((unsigned char)*c));
        char *lower = buf_take(&b);
        buf_init(&b, 8192);
        bool default_port = (strcasecmp(scheme, "https") == 0 && strcmp(port, "443") == 0) ||
                            (strcasecmp(scheme, "http") == 0 && strcmp(port, "80") == 0);
        buf_printf(&b, "%s://%s%s%s", scheme, lower, default_port ? "" : ":", default_port ? "" : port);
        free(lower);
        out = buf_take(&b);
    }
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return out;
}

bool flow_same_origin(const char *a, const char *b)
{
    char *oa = flow_url_origin(a), *ob = flow_url_origin(b);
    bool same = oa && ob && strcmp(oa, ob) == 0;
    free(oa);
    free(ob);
    return same;
}

char *flow_url_query_param(const char *url, const char *name)
{
    const char *q = strchr(url, '?');
    if (!q)
        return NULL;
    size_t len = strcspn(q + 1, "#");
    struct form f = {0};
    if (form_parse(q + 1, len, &f) != GW_OK)
        return NULL;
    const char *v = form_get(&f, name);
    char *out = v ? gw_strdup(v) : NULL;
    form_free(&f);
    return out;
}

/* ---- the loopback listener ---- */

enum gw_err flow_listener_open(struct flow_listener *l, int port)
{
    l->fd = -1;
    l->port = 0;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return GW_ERR_IO;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t salen = sizeof(sa);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 8) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &salen) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return GW_ERR_IO;
    }
    l->fd = fd;
    l->port = ntohs(sa.sin_port);
    return GW_OK;
}

void flow_listener_close(struct flow_listener *l)
{
    if (l->fd >= 0)
        close(l->fd);
    l->fd = -1;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void send_all(int fd, const char *data, size_t len)
{
    while (len) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
        if (n <= 0)
            return;
        data += n;
        len -= (size_t)n;
    }
}

static void answer(int fd, int status, const char *title, const char *text)
{
    char page[1024], head[256];
    int plen = snprintf(page, sizeof(page),
                        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>%s</title></head>"
                        "<body><h1>%s</h1><p>%s</p></body></html>\n",
                        title, title, text);
    int hlen = snprintf(head, sizeof(head),
                        "HTTP/1.1 %d %s\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: %d\r\n"
                        "Cache-Control: no-store\r\nConnection: close\r\n\r\n",
                        status, status == 200 ? "OK" : "Not Found", plen);
    send_all(fd, head, (size_t)hlen);
    send_all(fd, page, (size_t)plen);
}

/* Read one request head from a fresh connection (at most 16 KiB, until deadline). Returns
 * the request target of a GET, a new string, or NULL. */
static char *read_target(int fd, long long deadline)
{
    char head[16384];
    size_t got = 0;
    while (got < sizeof(head) - 1) {
        long long left = deadline - now_ms();
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (left <= 0 || poll(&p, 1, (int)left) <= 0)
            return NULL;
        ssize_t n = recv(fd, head + got, sizeof(head) - 1 - got, 0);
        if (n <= 0)
            return NULL;
        got += (size_t)n;
        head[got] = '\0';
        if (strstr(head, "\r\n\r\n") || strstr(head, "\n\n"))
            break;
    }
    if (strncmp(head, "GET ", 4) != 0)
        return NULL;
    size_t tlen = strcspn(head + 4, " \r\n");
    return gw_strndup(head + 4, tlen);
}

char *flow_listener_wait(struct flow_listener *l, const char *path, int timeout_s, struct buf *why)
{
    long long deadline = now_ms() + (long long)timeout_s * 1000;
    size_t plen = strlen(path);
    for (;;) {
        long long left = deadline - now_ms();
        if (left <= 0) {
            buf_printf(why, "no redirect arrived on http://127.0.0.1:%d%s within %d s", l->port, path,
                       timeout_s);
            return NULL;
        }
        struct pollfd p = {.fd = l->fd, .events = POLLIN};
        int r = poll(&p, 1, (int)(left > 1000 ? 1000 : left));
        if (r < 0 && errno != EINTR) {
            buf_printf(why, "waiting on the loopback listener: %s", strerror(errno));
            return NULL;
        }
        if (r <= 0)
            continue;
        int fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        long long conn_deadline = now_ms() + 5000;
        char *target = read_target(fd, conn_deadline < deadline ? conn_deadline : deadline);
        if (target && strncmp(target, path, plen) == 0 && (target[plen] == '?' || target[plen] == '\0')) {
            answer(fd, 200, "mcpgw test-oauth-flow",
                   "The authorization response arrived. You can close this tab and return to the terminal.");
            close(fd);
            return target;
        }
        answer(fd, 404, "Not here", "mcpgw test-oauth-flow waits for the authorization response only.");
        close(fd);
        free(target);
    }
}

/*
 * http_client.c - libcurl multi_socket driven by a libevent event_base (see http_client.h).
 *
 * curl tells us which sockets to watch (CURLMOPT_SOCKETFUNCTION) and when to wake it up
 * (CURLMOPT_TIMERFUNCTION); we call curl_multi_socket_action when either fires. The timer is
 * owned by the timer callback alone: it is never deleted because "nothing is running", which
 * stalls the loop once a completion starts a new transfer (reference §6, pitfall 9).
 *
 * Re-entrancy: curl forbids most multi calls from inside its callbacks, and user callbacks
 * may start, cancel or free. So while curl or our completion loop is on the stack
 * (client->busy > 0), new transfers wait in the list unadded, cancelled ones are only marked,
 * and a free is only marked; after_busy() carries them out when the stack unwinds.
 */
#include "http_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "alloc.h"

#define HTTP_CLIENT_DEFAULT_CONNECT_MS 10000u
#define HTTP_CLIENT_DEFAULT_TIMEOUT_MS 30000u
#define HTTP_CLIENT_DEFAULT_MAX_BODY ((size_t)8 << 20)
#define HTTP_CLIENT_DEFAULT_MAX_REDIRECTS 5u
#define HTTP_CLIENT_MAX_HEADER_BYTES ((size_t)64 << 10)

#ifndef MCPGW_VERSION
#define MCPGW_VERSION "dev"
#endif

/* Why we made curl stop, which curl itself reports only as a generic error. */
enum transfer_abort {
    ABORT_NONE,
    ABORT_BODY_TOO_LARGE,
    ABORT_HEADERS_TOO_LARGE,
    ABORT_STOPPED_BY_CALLBACK,
    ABORT_CANCELLED,
};

struct http_transfer {
    struct http_client *client;
    struct http_transfer *prev, *next;
    CURL *easy;
    struct curl_slist *request_headers;
    char *ca_file;
    http_client_done_fn done;
    http_client_data_fn on_data;
    void *arg;
    http_client_address_filter_fn allow_address;
    void *filter_arg;
    size_t max_body, received, header_bytes;
    struct http_client_response response;
    struct http_header *headers; /* owned name/value strings */
    size_t nheaders, headers_alloc;
    enum transfer_abort abort;
    bool added;     /* in the multi handle */
    bool cancelled; /* done must not be called; remove when not busy */
    bool finishing; /* its done callback is running or has run */
    char refused_address[INET6_ADDRSTRLEN + 8];
    char error[CURL_ERROR_SIZE + 64];
    char curl_error[CURL_ERROR_SIZE];
};

struct http_socket {
    struct http_client *client;
    struct http_socket *prev, *next;
    curl_socket_t fd;
    struct event *ev;
};

struct http_client {
    struct event_base *base;
    CURLM *multi;
    struct event *timer;
    struct http_transfer *transfers;
    struct http_socket *sockets;
    size_t active;
    int busy;
    bool freeing;
};

static pthread_once_t curl_init_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result;

static void init_curl(void)
{
    curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void after_busy(struct http_client *client);

/* ---- transfer bookkeeping ---- */

static void clear_response_headers(struct http_transfer *t)
{
    for (size_t i = 0; i < t->nheaders; i++) {
        free((char *)t->headers[i].name);
        free((char *)t->headers[i].value);
    }
    t->nheaders = 0;
}

static void free_transfer(struct http_transfer *t)
{
    struct http_client *client = t->client;
    if (t->prev)
        t->prev->next = t->next;
    else
        client->transfers = t->next;
    if (t->next)
        t->next->prev = t->prev;
    if (t->added)
        curl_multi_remove_handle(client->multi, t->easy);
    if (!t->cancelled && !t->finishing)
        client->active--;
    curl_easy_cleanup(t->easy);
    curl_slist_free_all(t->request_headers);
    clear_response_headers(t);
    free(t->headers);
    free(t->ca_file);
    buf_free(&t->response.body);
    free(t);
}

/* ---- curl callbacks (curl is on the stack: no multi calls, no user code except on_data) ---- */

static size_t on_header(char *data, size_t size, size_t count, void *userp)
{
    struct http_transfer *t = userp;
    size_t len = size * count;
    if (t->cancelled || t->client->freeing)
        return 0;
    t->header_bytes += len;
    if (t->header_bytes > HTTP_CLIENT_MAX_HEADER_BYTES) {
        t->abort = ABORT_HEADERS_TOO_LARGE;
        return 0;
    }
    if (len >= 5 && memcmp(data, "HTTP/", 5) == 0) {
        /* A new response (1xx, or one more hop of a redirect): keep only the last one's. */
        clear_response_headers(t);
        t->header_bytes = len;
        return len;
    }
    size_t end = len;
    while (end > 0 && (data[end - 1] == '\r' || data[end - 1] == '\n'))
        end--;
    if (end == 0)
        return len;
    if ((data[0] == ' ' || data[0] == '\t') && t->nheaders > 0) {
        /* obsolete line folding: continue the previous value */
        struct http_header *last = &t->headers[t->nheaders - 1];
        size_t start = 0;
        while (start < end && (data[start] == ' ' || data[start] == '\t'))
            start++;
        size_t old = strlen(last->value);
        char *joined = gw_malloc(old + 1 + (end - start) + 1);
        memcpy(joined, last->value, old);
        joined[old] = ' ';
        memcpy(joined + old + 1, data + start, end - start);
        joined[old + 1 + end - start] = '\0';
        free((char *)last->value);
        last->value = joined;
        return len;
    }
    const char *colon = memchr(data, ':', end);
    if (!colon || colon == data)
        return len; /* not a header line: ignore rather than fail the transfer */
    size_t name_len = (size_t)(colon - data);
    size_t v = name_len + 1;
    while (v < end && (data[v] == ' ' || data[v] == '\t'))
        v++;
    size_t value_end = end;
    while (value_end > v && (data[value_end - 1] == ' ' || data[value_end - 1] == '\t'))
        value_end--;
    if (t->nheaders == t->headers_alloc) {
        t->headers_alloc = t->headers_alloc ? t->headers_alloc * 2 : 16;
        t->headers = gw_realloc(t->headers, t->headers_alloc * sizeof(*t->headers));
    }
    t->headers[t->nheaders].name = gw_strndup(data, name_len);
    t->headers[t->nheaders].value = gw_strndup(data + v, value_end - v);
    t->nheaders++;
    return len;
}

static size_t on_body(char *data, size_t size, size_t count, void *userp)
{
    struct http_transfer *t = userp;
    size_t len = size * count;
    if (t->cancelled || t->client->freeing)
        return 0;
    if (len > t->max_body - t->received) {
        t->abort = ABORT_BODY_TOO_LARGE;
        return 0;
    }
    t->received += len;
    if (!t->on_data) {
        if (buf_append(&t->response.body, data, len) != GW_OK) {
            t->abort = ABORT_BODY_TOO_LARGE;
            return 0;
        }
        return len;
    }
    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &t->response.status);
    t->response.headers = t->headers;
    t->response.nheaders = t->nheaders;
    if (!t->on_data(&t->response, data, len, t->arg)) {
        t->abort = ABORT_STOPPED_BY_CALLBACK;
        return 0;
    }
    /* the callback may have cancelled this very transfer (or, against the rules, freed) */
    return t->cancelled || t->client->freeing ? 0 : len;
}

static void describe_address(const struct sockaddr *addr, char *out, size_t size)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    if (addr->sa_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)addr;
        inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof(ip));
        snprintf(out, size, "%s:%u", ip, ntohs(sin->sin_port));
    } else if (addr->sa_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)addr;
        inet_ntop(AF_INET6, &sin6->sin6_addr, ip, sizeof(ip));
        snprintf(out, size, "[%s]:%u", ip, ntohs(sin6->sin6_port));
    } else {
        snprintf(out, size, "address family %d", addr->sa_family);
    }
}

/* Every socket curl opens comes through here: the address filter, and close-on-exec so the
 * supervisor's child processes do not inherit our connections. */
static curl_socket_t on_open_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *address)
{
    struct http_transfer *t = clientp;
    if (purpose == CURLSOCKTYPE_IPCXN && t->allow_address &&
        !t->allow_address(&address->addr, address->addrlen, t->filter_arg)) {
        describe_address(&address->addr, t->refused_address, sizeof(t->refused_address));
        t->response.address_refused = true;
        return CURL_SOCKET_BAD;
    }
    return socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
}

/* ---- driving curl from libevent ---- */

static void drive(struct http_client *client, curl_socket_t fd, int action);

static void on_socket_event(evutil_socket_t fd, short events, void *arg)
{
    struct http_socket *s = arg;
    int action = ((events & EV_READ) ? CURL_CSELECT_IN : 0) | ((events & EV_WRITE) ? CURL_CSELECT_OUT : 0);
    drive(s->client, fd, action); /* may free s and the client: touch nothing afterwards */
}

static void on_timer_event(evutil_socket_t fd, short events, void *arg)
{
    (void)fd;
    (void)events;
    drive(arg, CURL_SOCKET_TIMEOUT, 0);
}

static void free_socket(struct http_client *client, struct http_socket *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        client->sockets = s->next;
    if (s->next)
        s->next->prev = s->prev;
    event_free(s->ev);
    free(s);
}

static int on_curl_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    (void)easy;
    struct http_client *client = userp;
    struct http_socket *s = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (s)
            free_socket(client, s);
        return 0;
    }
    short kind = EV_PERSIST | ((what & CURL_POLL_IN) ? EV_READ : 0) | ((what & CURL_POLL_OUT) ? EV_WRITE : 0);
    if (!s) {
        s = gw_calloc(1, sizeof(*s));
        s->client = client;
        s->fd = fd;
        s->ev = event_new(client->base, fd, kind, on_socket_event, s);
        if (!s->ev)
            gw_oom(sizeof(struct event *));
        s->next = client->sockets;
        if (s->next)
            s->next->prev = s;
        client->sockets = s;
        curl_multi_assign(client->multi, fd, s);
    } else {
        event_del(s->ev);
        event_assign(s->ev, client->base, fd, kind, on_socket_event, s);
    }
    event_add(s->ev, NULL);
    return 0;
}

/* curl's single timer: timeout_ms < 0 means "no timer", 0 means "as soon as possible". */
static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    struct http_client *client = userp;
    if (timeout_ms < 0) {
        evtimer_del(client->timer);
        return 0;
    }
    struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
    evtimer_add(client->timer, &tv);
    return 0;
}

/* ---- completion ---- */

static enum gw_err map_curl_code(CURLcode code)
{
    switch (code) {
    case CURLE_OK:
        return GW_OK;
    case CURLE_OPERATION_TIMEDOUT:
        return GW_ERR_TIMEOUT;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
        return GW_ERR_UNAVAILABLE;
    case CURLE_FILESIZE_EXCEEDED:
        return GW_ERR_TOO_LARGE;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_USE_SSL_FAILED:
        return GW_ERR_TLS;
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
        return GW_ERR_INVALID;
    case CURLE_TOO_MANY_REDIRECTS:
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_BAD_CONTENT_ENCODING:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_HTTP3:
        return GW_ERR_PROTOCOL;
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
        return GW_ERR_CLOSED;
    default:
        return GW_ERR_IO;
    }
}

static void fill_outcome(struct http_transfer *t, CURLcode code)
{
    struct http_client_response *r = &t->response;
    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &r->status);
    char *url = NULL;
    curl_easy_getinfo(t->easy, CURLINFO_EFFECTIVE_URL, &url);
    r->effective_url = url ? url : "";
    r->headers = t->headers;
    r->nheaders = t->nheaders;
    r->curl_code = (int)code;
    r->err = map_curl_code(code);
    const char *curl_text = t->curl_error[0] ? t->curl_error : curl_easy_strerror(code);
    if (code == CURLE_OK) {
        t->error[0] = '\0';
    } else if (t->abort == ABORT_BODY_TOO_LARGE || t->abort == ABORT_HEADERS_TOO_LARGE) {
        r->err = GW_ERR_TOO_LARGE;
        snprintf(t->error, sizeof(t->error), "%s",
                 t->abort == ABORT_BODY_TOO_LARGE ? "response body exceeds the size limit"
                                                  : "response headers exceed 64 KiB");
    } else if (t->abort == ABORT_STOPPED_BY_CALLBACK) {
        r->err = GW_ERR_CLOSED;
        snprintf(t->error, sizeof(t->error), "stopped by the data callback");
    } else if (code == CURLE_FILESIZE_EXCEEDED) {
        snprintf(t->error, sizeof(t->error), "response body exceeds the size limit");
    } else if (r->address_refused && code == CURLE_COULDNT_CONNECT) {
        r->err = GW_ERR_INVALID;
        snprintf(t->error, sizeof(t->error), "address refused by filter: %s", t->refused_address);
    } else {
        snprintf(t->error, sizeof(t->error), "%s", curl_text);
    }
    r->error = t->error;
}

static void process_completions(struct http_client *client)
{
    CURLMsg *msg;
    int left;
    while (!client->freeing && (msg = curl_multi_info_read(client->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        CURL *easy = msg->easy_handle;
        CURLcode code = msg->data.result;
        char *private = NULL;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, &private);
        struct http_transfer *t = (struct http_transfer *)(void *)private;
        curl_multi_remove_handle(client->multi, easy); /* msg is invalid from here on */
        t->added = false;
        if (t->cancelled) {
            free_transfer(t);
            continue;
        }
        fill_outcome(t, code);
        t->finishing = true;
        client->active--;
        t->done(&t->response, t->arg);
        free_transfer(t);
    }
}

static void drive(struct http_client *client, curl_socket_t fd, int action)
{
    int running;
    client->busy++;
    curl_multi_socket_action(client->multi, fd, action, &running);
    process_completions(client);
    client->busy--;
    if (client->busy == 0)
        after_busy(client); /* may free the client */
}

static void destroy_client(struct http_client *client)
{
    while (client->transfers)
        free_transfer(client->transfers);
    curl_multi_cleanup(client->multi); /* may still report sockets as removed */
    while (client->sockets)
        free_socket(client, client->sockets);
    event_free(client->timer);
    free(client);
}

static void after_busy(struct http_client *client)
{
    if (client->freeing) {
        destroy_client(client);
        return;
    }
    client->busy++; /* adding a handle can run curl's timer callback: keep user code out */
    struct http_transfer *t = client->transfers, *next;
    for (; t; t = next) {
        next = t->next;
        if (t->cancelled) {
            free_transfer(t);
        } else if (!t->added && !t->finishing) {
            if (curl_multi_add_handle(client->multi, t->easy) != CURLM_OK)
                gw_oom(0); /* only fails for lack of memory outside callbacks */
            t->added = true;
        }
    }
    client->busy--;
}

/* ---- public API ---- */

enum gw_err http_client_create(struct event_base *base, struct http_client **out)
{
    *out = NULL;
    pthread_once(&curl_init_once, init_curl);
    if (curl_init_result != CURLE_OK || !base)
        return GW_ERR_IO;
    struct http_client *client = gw_calloc(1, sizeof(*client));
    client->base = base;
    client->multi = curl_multi_init();
    client->timer = evtimer_new(base, on_timer_event, client);
    if (!client->multi || !client->timer)
        gw_oom(sizeof(*client));
    curl_multi_setopt(client->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
    curl_multi_setopt(client->multi, CURLMOPT_SOCKETDATA, client);
    curl_multi_setopt(client->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
    curl_multi_setopt(client->multi, CURLMOPT_TIMERDATA, client);
    *out = client;
    return GW_OK;
}

void http_client_free(struct http_client *client)
{
    if (!client || client->freeing)
        return;
    client->freeing = true;
    client->busy++;
    /* Callbacks run here cannot start transfers (freeing) and cancel only marks (busy), so the
     * list does not change under us. */
    for (struct http_transfer *t = client->transfers; t; t = t->next) {
        if (t->cancelled || t->finishing)
            continue;
        t->finishing = true;
        client->active--;
        fill_outcome(t, CURLE_ABORTED_BY_CALLBACK);
        t->response.err = GW_ERR_CLOSED;
        snprintf(t->error, sizeof(t->error), "HTTP client closed");
        t->done(&t->response, t->arg);
    }
    client->busy--;
    if (client->busy == 0)
        destroy_client(client);
}

static bool is_token(const char *s)
{
    if (!s || !*s)
        return false;
    for (; *s; s++)
        if (!(*s > 32 && *s < 127) || strchr("\"(),/:;<=>?@[\\]{}", *s))
            return false;
    return true;
}

static bool has_line_break(const char *s)
{
    return strpbrk(s, "\r\n") != NULL;
}

static enum gw_err build_request_headers(struct http_transfer *t, const struct http_client_request *req)
{
    struct curl_slist *list = NULL;
    /* Keep curl from waiting for "100 Continue" before sending bodies over 1 MiB. */
    list = curl_slist_append(list, "Expect:");
    for (size_t i = 0; list && i < req->nheaders; i++) {
        const struct http_header *h = &req->headers[i];
        if (!is_token(h->name) || !h->value || has_line_break(h->value)) {
            curl_slist_free_all(list);
            return GW_ERR_INVALID;
        }
        struct buf line;
        buf_init(&line, HTTP_CLIENT_MAX_HEADER_BYTES);
        /* "Name;" is curl's way of sending a header with an empty value. */
        enum gw_err too_long =
            h->value[0] ? buf_printf(&line, "%s: %s", h->name, h->value) : buf_printf(&line, "%s;", h->name);
        struct curl_slist *grown = too_long ? NULL : curl_slist_append(list, buf_cstr(&line));
        buf_free(&line);
        if (too_long) {
            curl_slist_free_all(list);
            return GW_ERR_INVALID;
        }
        if (!grown)
            gw_oom(0);
        list = grown;
    }
    if (!list)
        gw_oom(0);
    t->request_headers = list;
    return GW_OK;
}

static bool set_options(struct http_transfer *t, const struct http_client_request *req, const char *method)
{
    CURL *e = t->easy;
    bool ok = true;
#define SET(option, value) ok = ok && curl_easy_setopt(e, option, value) == CURLE_OK
    SET(CURLOPT_URL, req->url);
    SET(CURLOPT_PRIVATE, (void *)t);
    SET(CURLOPT_ERRORBUFFER, t->curl_error);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_ACCEPT_ENCODING, "");
    SET(CURLOPT_PROXY, ""); /* ignore *_proxy variables: see the header */
    SET(CURLOPT_USERAGENT, "mcpgw/" MCPGW_VERSION);
    SET(CURLOPT_CONNECTTIMEOUT_MS,
        (long)(req->connect_timeout_ms ? req->connect_timeout_ms : HTTP_CLIENT_DEFAULT_CONNECT_MS));
    SET(CURLOPT_TIMEOUT_MS, (long)(req->timeout_ms ? req->timeout_ms : HTTP_CLIENT_DEFAULT_TIMEOUT_MS));
    SET(CURLOPT_FOLLOWLOCATION, req->follow_redirects ? 1L : 0L);
    SET(CURLOPT_MAXREDIRS,
        (long)(req->max_redirects ? req->max_redirects : HTTP_CLIENT_DEFAULT_MAX_REDIRECTS));
    if (t->max_body < (size_t)INT64_MAX)
        SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)t->max_body); /* early refusal by Content-Length */
    SET(CURLOPT_HEADERFUNCTION, on_header);
    SET(CURLOPT_HEADERDATA, (void *)t);
    SET(CURLOPT_WRITEFUNCTION, on_body);
    SET(CURLOPT_WRITEDATA, (void *)t);
    SET(CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
    SET(CURLOPT_OPENSOCKETDATA, (void *)t);
    SET(CURLOPT_HTTPHEADER, t->request_headers);
    if (t->allow_address) {
        /* A reused connection was opened for another request and never passed this filter. */
        SET(CURLOPT_FRESH_CONNECT, 1L);
        SET(CURLOPT_FORBID_REUSE, 1L);
    }
    if (t->ca_file)
        SET(CURLOPT_CAINFO, t->ca_file);

    bool body_method = !strcmp(method, "POST") || !strcmp(method, "PUT") || !strcmp(method, "PATCH");
    if (!strcmp(method, "HEAD")) {
        SET(CURLOPT_NOBODY, 1L);
    } else if (req->body_len > 0 || body_method) {
        SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
        SET(CURLOPT_COPYPOSTFIELDS, req->body_len ? (const char *)req->body : "");
        if (strcmp(method, "POST") != 0)
            SET(CURLOPT_CUSTOMREQUEST, method);
    } else if (strcmp(method, "GET") != 0) {
        SET(CURLOPT_CUSTOMREQUEST, method);
    }
#undef SET
    return ok;
}

enum gw_err http_client_request(struct http_client *client, const struct http_client_request *req,
                                http_client_done_fn done, void *arg, struct http_transfer **handle)
{
    if (handle)
        *handle = NULL;
    if (client->freeing)
        return GW_ERR_CLOSED;
    const char *method = req && req->method ? req->method : "GET";
    if (!req || !req->url || !done || !is_token(method) || strlen(method) > 32 ||
        (req->body_len > 0 && !req->body) || (req->nheaders > 0 && !req->headers))
        return GW_ERR_INVALID;

    struct http_transfer *t = gw_calloc(1, sizeof(*t));
    t->client = client;
    t->done = done;
    t->on_data = req->on_data;
    t->arg = arg;
    t->allow_address = req->allow_address;
    t->filter_arg = req->filter_arg;
    t->max_body = req->max_response_bytes ? req->max_response_bytes : HTTP_CLIENT_DEFAULT_MAX_BODY;
    /* (a finite cap even for "no cap": buf's arithmetic reserves cap + 1) */
    buf_init(&t->response.body, t->max_body < SIZE_MAX / 2 ? t->max_body : SIZE_MAX / 2);
    t->response.error = "";
    t->response.effective_url = "";
    t->ca_file = req->ca_file ? gw_strdup(req->ca_file) : NULL;
    t->easy = curl_easy_init();
    if (!t->easy)
        gw_oom(0);
    /* Linked before anything can fail so free_transfer can undo it all. finishing keeps the
     * active count untouched while the transfer is not yet counted. */
    t->next = client->transfers;
    if (t->next)
        t->next->prev = t;
    client->transfers = t;
    t->finishing = true;

    enum gw_err err = build_request_headers(t, req);
    if (!err && !set_options(t, req, method))
        err = GW_ERR_IO;
    if (!err && !client->busy) {
        if (curl_multi_add_handle(client->multi, t->easy) != CURLM_OK)
            err = GW_ERR_IO;
        else
            t->added = true;
    }
    if (err) {
        free_transfer(t);
        return err;
    }
    t->finishing = false;
    client->active++;
    if (handle)
        *handle = t;
    return GW_OK;
}

void http_client_cancel(struct http_transfer *t)
{
    if (!t || t->cancelled || t->finishing)
        return;
    struct http_client *client = t->client;
    t->cancelled = true;
    t->abort = ABORT_CANCELLED;
    client->active--;
    if (client->busy == 0)
        free_transfer(t);
    /* else: after_busy() removes it once curl and our callbacks are off the stack */
}

size_t http_client_active(const struct http_client *client)
{
    return client->active;
}

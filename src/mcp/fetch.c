/*
 * fetch.c - the mcp-fetch service: tool `fetch` (url, max_length, start_index, raw) and
 * prompt `fetch` (url), after the reference server mcp-server-fetch.
 *
 * A tool call runs on the worker's loop: robots.txt of the origin (cached briefly, skipped
 * for the user-initiated prompt or with FETCH_IGNORE_ROBOTS=true), then the page, both through
 * the worker's http_client with an address filter on every connection (redirects included),
 * so a name that resolves to, or redirects to, a private address is refused at connect time.
 */
#include "mcp/fetch.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <jansson.h>
#include <netinet/in.h>

#include "core/alloc.h"
#include "core/health.h"
#include "core/http_client.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/role.h"
#include "mcp/fetch_address.h"
#include "mcp/fetch_content.h"
#include "mcp/fetch_robots.h"
#include "mcp/html_markdown.h"
#include "mcp/jsonrpc.h"
#include "mcp/mcp_server.h"

#define USER_AGENT_AUTONOMOUS                                                                                \
    "ModelContextProtocol/1.0 (Autonomous; +https://github.com/modelcontextprotocol/servers)"
#define USER_AGENT_MANUAL                                                                                    \
    "ModelContextProtocol/1.0 (User-Specified; +https://github.com/modelcontextprotocol/servers)"
#define MAX_DENIED_ADDRESSES 32

/* Read once at setup, then only read by the workers. */
static struct {
    bool allow_private;
    bool ignore_robots;
    size_t max_bytes;
    unsigned timeout_ms;
    /* FETCH_DENY_ADDRESSES: refused even with FETCH_ALLOW_PRIVATE (tests, and operators who
     * want a hole or two closed). Stored as IPv6 (IPv4 as ::ffff:a.b.c.d). */
    struct in6_addr denied[MAX_DENIED_ADDRESSES];
    size_t ndenied;
} settings;

/* ---- the address filter ---- */

static void as_ipv6(const struct sockaddr *addr, struct in6_addr *out)
{
    memset(out, 0, sizeof(*out));
    if (addr->sa_family == AF_INET) {
        out->s6_addr[10] = 0xFF;
        out->s6_addr[11] = 0xFF;
        memcpy(&out->s6_addr[12], &((const struct sockaddr_in *)addr)->sin_addr, 4);
    } else {
        *out = ((const struct sockaddr_in6 *)addr)->sin6_addr;
    }
}

static bool allow_address(const struct sockaddr *addr, socklen_t addrlen, void *arg)
{
    (void)arg;
    if (addr->sa_family != AF_INET && addr->sa_family != AF_INET6)
        return false;
    struct in6_addr a;
    as_ipv6(addr, &a);
    for (size_t i = 0; i < settings.ndenied; i++)
        if (memcmp(&a, &settings.denied[i], sizeof(a)) == 0)
            return false;
    return settings.allow_private || fetch_address_is_public(addr, addrlen);
}

/* ---- one fetch ---- */

struct fetch_job {
    struct mcp_call *call;
    struct http_client *client;
    struct http_transfer *transfer; /* the request in flight, or NULL */
    bool prompt;                    /* the user-initiated prompt: no robots.txt, no paging */
    char *url;                      /* normalised by curl's parser */
    char *origin;                   /* scheme://host[:port] */
    char *robots_url;
    char *path; /* path?query, for robots.txt */
    size_t start_index, max_length;
    bool raw;
};

static void job_free(struct fetch_job *job)
{
    free(job->url);
    free(job->origin);
    free(job->robots_url);
    free(job->path);
    free(job);
}

/* fetch_outcomes_total{outcome}: why fetches fail (or "ok"), beside the core's per-tool counts. */
static struct metric_family *outcomes_metric;

static void count_outcome(const char *outcome)
{
    if (outcomes_metric)
        metrics_add(outcomes_metric, (const char *const[]){outcome}, 1);
}

/* Finish the call with text (a tool result; for the prompt a GetPromptResult) and free job. */
static void job_finish(struct fetch_job *job, const char *text, bool is_error)
{
    if (job->prompt) {
        char description[256];
        snprintf(description, sizeof(description), "%s %.200s", is_error ? "Failed to fetch" : "Contents of",
                 job->url);
        /* Lenient strings: a URL cut at 200 bytes, or one with raw bytes, may not be UTF-8. */
        json_t *result = json_pack("{s:o,s:[{s:s,s:{s:s,s:o}}]}", "description",
                                   jsonrpc_lenient_string(description), "messages", "role", "user", "content",
                                   "type", "text", "text", jsonrpc_lenient_string(text));
        mcp_call_return_result(job->call, result);
    } else {
        mcp_call_return_text(job->call, text, is_error);
    }
    job_free(job);
}

static void job_fail(struct fetch_job *job, const char *outcome, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void job_fail(struct fetch_job *job, const char *outcome, const char *fmt, ...)
{
    count_outcome(outcome);
    struct buf text;
    buf_init(&text, 64 * 1024);
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(&text, fmt, ap);
    va_end(ap);
    job_finish(job, buf_cstr(&text), true);
    buf_free(&text);
}

static void job_cancelled(struct mcp_call *call, void *arg)
{
    struct fetch_job *job = arg;
    (void)call;
    if (job->transfer)
        http_client_cancel(job->transfer);
    job->transfer = NULL;
    count_outcome("cancelled");
    job_finish(job, "cancelled: the client went away", true);
}

static const char *header_value(const struct http_client_response *r, const char *name)
{
    for (size_t i = 0; i < r->nheaders; i++)
        if (strcasecmp(r->headers[i].name, name) == 0)
            return r->headers[i].value;
    return NULL;
}

/* Why a transfer failed, in words for the model (and the user behind it). */
static void fail_transfer(struct fetch_job *job, const char *what, const struct http_client_response *r)
{
    if (r->address_refused)
        job_fail(
            job, "refused_address",
            "Refused to fetch %s: it resolves (or redirects) to a private, loopback, link-local or otherwise "
            "non-public address",
            what);
    else if (r->err == GW_ERR_TOO_LARGE)
        job_fail(job, "too_large", "Failed to fetch %s: the response is larger than %zu bytes", what,
                 settings.max_bytes);
    else if (r->err == GW_ERR_TIMEOUT)
        job_fail(job, "timeout", "Failed to fetch %s: no complete answer within %u seconds", what,
                 settings.timeout_ms / 1000);
    else if (r->err == GW_ERR_PROTOCOL && r->curl_code == CURLE_TOO_MANY_REDIRECTS)
        job_fail(job, "too_many_redirects", "Failed to fetch %s: too many redirects", what);
    else
        job_fail(job, "failed", "Failed to fetch %s: %s", what,
                 r->error && *r->error ? r->error : gw_strerror(r->err));
}

static enum gw_err start_request(struct fetch_job *job, const char *url, const char *user_agent,
                                 http_client_done_fn done)
{
    const struct http_header headers[] = {{"User-Agent", user_agent},
                                          {"Accept", "text/html,application/xhtml+xml,application/json;q=0.9,"
                                                     "text/*;q=0.8,*/*;q=0.5"}};
    struct http_client_request req = {
        .url = url,
        .headers = headers,
        .nheaders = 2,
        .timeout_ms = settings.timeout_ms,
        .connect_timeout_ms = settings.timeout_ms < 10000 ? settings.timeout_ms : 10000,
        .max_response_bytes = settings.max_bytes,
        .follow_redirects = true,
        .max_redirects = 5,
        .allow_address = allow_address,
    };
    return http_client_request(job->client, &req, done, job, &job->transfer);
}

static void page_done(struct http_client_response *r, void *arg)
{
    struct fetch_job *job = arg;
    job->transfer = NULL;
    if (r->err != GW_OK) {
        fail_transfer(job, job->url, r);
        return;
    }
    if (r->status >= 400) {
        job_fail(job, "http_error", "Failed to fetch %s - status code %ld", job->url, r->status);
        return;
    }
    const char *content_type = header_value(r, "Content-Type");
    enum fetch_kind kind = fetch_classify(content_type, r->body.data, r->body.len);
    if (kind == FETCH_KIND_BINARY) {
        job_fail(job, "binary",
                 "Cannot return %s: its content type (%.100s) is binary, not text, HTML or JSON", job->url,
                 content_type && *content_type ? content_type : "unknown");
        return;
    }
    char *content = NULL;
    char prefix[256] = "";
    if (kind == FETCH_KIND_HTML && !job->raw) {
        char *charset = fetch_content_charset(content_type);
        content = html_to_markdown(r->body.data ? r->body.data : "", r->body.len, charset,
                                   r->effective_url && *r->effective_url ? r->effective_url : job->url);
        free(charset);
        if (!*content) {
            free(content);
            content = gw_strdup("<error>Page failed to be simplified from HTML</error>");
        }
    } else {
        char *charset = fetch_content_charset(content_type);
        content = fetch_text_from_charset(r->body.data, r->body.len, charset);
        free(charset);
        json_t *doc = kind == FETCH_KIND_JSON && !job->raw
                          ? json_loads(content, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL)
                          : NULL;
        char *pretty = doc ? json_dumps(doc, JSON_INDENT(2) | JSON_ENCODE_ANY) : NULL;
        json_decref(doc);
        if (pretty) {
            free(content);
            content = pretty;
        } else { /* as the reference server says of everything it does not turn into Markdown */
            snprintf(prefix, sizeof(prefix),
                     "Content type %.100s cannot be simplified to markdown, but here is the raw content:\n",
                     content_type ? content_type : "");
        }
    }
    count_outcome("ok");
    char *page =
        job->prompt ? NULL : fetch_page(prefix, job->url, content, job->start_index, job->max_length);
    if (job->prompt) {
        struct buf text;
        buf_init(&text, SIZE_MAX);
        buf_printf(&text, "%s%s", prefix, content);
        job_finish(job, buf_cstr(&text), false);
        buf_free(&text);
    } else {
        job_finish(job, page, false);
    }
    free(page);
    free(content);
}

static void start_page(struct fetch_job *job)
{
    enum gw_err err =
        start_request(job, job->url, job->prompt ? USER_AGENT_MANUAL : USER_AGENT_AUTONOMOUS, page_done);
    if (err)
        job_fail(job, "failed", "Failed to fetch %s: %s", job->url, gw_strerror(err));
}

/* Apply a robots.txt verdict: go on to the page, or refuse as the reference server does. */
static void apply_robots(struct fetch_job *job, enum robots_verdict verdict, const char *text)
{
    bool allowed =
        verdict == ROBOTS_ALLOW_ALL ||
        (verdict == ROBOTS_USE_TEXT && robots_allows(text, strlen(text), USER_AGENT_AUTONOMOUS, job->path));
    if (allowed) {
        start_page(job);
        return;
    }
    if (verdict == ROBOTS_DENY_ALL) {
        job_fail(job, "robots_denied",
                 "When fetching robots.txt (%s), received an access-denied status, so assume that autonomous "
                 "fetching is not allowed; the user can try manually fetching by using the fetch prompt",
                 job->robots_url);
        return;
    }
    job_fail(
        job, "robots_denied",
        "The sites robots.txt (%s), specifies that autonomous fetching of this page is not allowed, "
        "<useragent>%s</useragent>\n<url>%s</url><robots>\n%.4000s\n</robots>\n"
        "The assistant must let the user know that it failed to view the page. The assistant may provide "
        "further guidance based on the above information.\n"
        "The assistant can tell the user that they can try manually fetching the page by using the fetch "
        "prompt within their UI.",
        job->robots_url, USER_AGENT_AUTONOMOUS, job->url, text);
}

static void robots_done(struct http_client_response *r, void *arg)
{
    struct fetch_job *job = arg;
    job->transfer = NULL;
    if (r->err != GW_OK) {
        if (r->address_refused)
            fail_transfer(job, job->url, r);
        else if (r->err == GW_ERR_TOO_LARGE)
            fail_transfer(job, job->robots_url, r);
        else
            job_fail(job, "robots_unreachable", "Failed to fetch robots.txt %s due to a connection issue",
                     job->robots_url);
        return;
    }
    enum robots_verdict verdict = r->status == 401 || r->status == 403  ? ROBOTS_DENY_ALL
                                  : r->status >= 400 && r->status < 500 ? ROBOTS_ALLOW_ALL
                                  : r->status >= 500 ? ROBOTS_DENY_ALL /* RFC 9309 2.3.1.4 */
                                                     : ROBOTS_USE_TEXT;
    char *text = verdict == ROBOTS_USE_TEXT ? fetch_utf8_text(r->body.data, r->body.len) : NULL;
    robots_cache_put(job->origin, verdict, text, text ? strlen(text) : 0);
    apply_robots(job, verdict, text ? text : "");
    free(text);
}

/* Split job->url with curl's parser: scheme, origin, robots.txt URL, path and query. */
static bool parse_target(struct fetch_job *job, const char *url, const char **why)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL, *query = NULL, *full = NULL;
    bool ok = false;
    if (strlen(url) > 8192) {
        *why = "the URL is too long";
    } else if (curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK ||
               curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
               curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !host || !*host) {
        *why = "only absolute http and https URLs can be fetched";
    } else if (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0) {
        *why = "only http and https URLs can be fetched";
    } else {
        curl_url_get(u, CURLUPART_PORT, &port, 0);
        curl_url_get(u, CURLUPART_PATH, &path, 0);
        curl_url_get(u, CURLUPART_QUERY, &query, 0);
        curl_url_set(u, CURLUPART_FRAGMENT, NULL, 0);
        curl_url_get(u, CURLUPART_URL, &full, 0);
        struct buf b;
        buf_init(&b, SIZE_MAX);
        buf_printf(&b, "%s://%s%s%s", scheme, host, port ? ":" : "", port ? port : "");
        job->origin = buf_take(&b);
        buf_init(&b, SIZE_MAX);
        buf_printf(&b, "%s/robots.txt", job->origin);
        job->robots_url = buf_take(&b);
        buf_init(&b, SIZE_MAX);
        buf_printf(&b, "%s%s%s", path && *path ? path : "/", query ? "?" : "", query ? query : "");
        job->path = buf_take(&b);
        job->url = gw_strdup(full ? full : url);
        ok = true;
    }
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_free(path);
    curl_free(query);
    curl_free(full);
    curl_url_cleanup(u);
    return ok;
}

static void begin(struct mcp_call *call, const char *url, bool prompt, size_t start_index, size_t max_length,
                  bool raw)
{
    struct worker *w = worker_current();
    struct http_client *client = w ? w->role_data : NULL;
    struct fetch_job *job = gw_calloc(1, sizeof(*job));
    *job = (struct fetch_job){.call = call,
                              .client = client,
                              .prompt = prompt,
                              .start_index = start_index,
                              .max_length = max_length,
                              .raw = raw};
    const char *why = NULL;
    if (!parse_target(job, url, &why)) {
        job->url = gw_strndup(url, 2048);
        job_fail(job, "bad_url", "Cannot fetch %s: %s", job->url, why);
        return;
    }
    if (!client) {
        job_fail(job, "failed", "Failed to fetch %s: the outbound HTTP client is not available", job->url);
        return;
    }
    mcp_call_on_cancel(call, job_cancelled, job);
    if (prompt || settings.ignore_robots) {
        start_page(job);
        return;
    }
    enum robots_verdict verdict;
    char *text = NULL;
    if (robots_cache_get(job->origin, &verdict, &text)) {
        apply_robots(job, verdict, text ? text : "");
        free(text);
        return;
    }
    enum gw_err err = start_request(job, job->robots_url, USER_AGENT_AUTONOMOUS, robots_done);
    if (err)
        job_fail(job, "failed", "Failed to fetch robots.txt %s: %s", job->robots_url, gw_strerror(err));
}

static void tool_fetch(struct mcp_call *call, const json_t *arguments, void *arg)
{
    (void)arg;
    const char *url = json_string_value(json_object_get(arguments, "url"));
    const json_t *max_length = json_object_get(arguments, "max_length");
    const json_t *start_index = json_object_get(arguments, "start_index");
    const json_t *raw = json_object_get(arguments, "raw");
    json_int_t max = max_length ? json_integer_value(max_length) : 5000;
    json_int_t start = start_index ? json_integer_value(start_index) : 0;
    if (max <= 0 || max >= 1000000) {
        mcp_call_return_error(call, -32602, "max_length must be greater than 0 and less than 1000000");
        return;
    }
    if (start < 0) {
        mcp_call_return_error(call, -32602, "start_index must be 0 or more");
        return;
    }
    if (!url || !*url) {
        mcp_call_return_error(call, -32602, "URL is required");
        return;
    }
    begin(call, url, false, (size_t)start, (size_t)max, raw && json_is_true(raw));
}

static void prompt_fetch(struct mcp_call *call, const json_t *arguments, void *arg)
{
    (void)arg;
    const char *url = json_string_value(json_object_get(arguments, "url"));
    if (!url || !*url) {
        mcp_call_return_error(call, -32602, "URL is required");
        return;
    }
    begin(call, url, true, 0, 0, false);
}

static const char *const fetch_schema =
    "{\"type\":\"object\",\"title\":\"Fetch\",\"description\":\"Parameters for fetching a URL.\","
    "\"properties\":{"
    "\"url\":{\"type\":\"string\",\"format\":\"uri\",\"minLength\":1,\"title\":\"Url\",\"description\":\"URL "
    "to "
    "fetch\"},"
    "\"max_length\":{\"type\":\"integer\",\"default\":5000,\"exclusiveMinimum\":0,\"exclusiveMaximum\":"
    "1000000,"
    "\"title\":\"Max Length\",\"description\":\"Maximum number of characters to return.\"},"
    "\"start_index\":{\"type\":\"integer\",\"default\":0,\"minimum\":0,\"title\":\"Start Index\","
    "\"description\":\"On return output starting at this character index, useful if a previous fetch was "
    "truncated and more context is required.\"},"
    "\"raw\":{\"type\":\"boolean\",\"default\":false,\"title\":\"Raw\",\"description\":\"Get the actual HTML "
    "content of the requested page, without simplification.\"}},"
    "\"required\":[\"url\"]}";

static const struct mcp_tool tool_fetch_def = {
    .name = "fetch",
    .title = "Fetch",
    .description =
        "Fetches a URL from the internet and optionally extracts its contents as markdown.\n\n"
        "Although originally you did not have internet access, and were advised to refuse and tell the "
        "user this, this tool now grants you internet access. Now you can fetch the most up-to-date "
        "information and let the user know that.",
    .input_schema = fetch_schema,
    .annotations = "{\"readOnlyHint\":true,\"openWorldHint\":true}",
    .handler = tool_fetch,
};

static const struct mcp_prompt_argument prompt_arguments[] = {
    {.name = "url", .description = "URL to fetch", .required = true},
};
static const struct mcp_prompt prompt_fetch_def = {
    .name = "fetch",
    .title = "Fetch",
    .description = "Fetch a URL and extract its contents as markdown",
    .arguments = prompt_arguments,
    .narguments = 1,
    .handler = prompt_fetch,
};

/* ---- the role ---- */

static bool ssrf_check(void *arg, struct buf *detail)
{
    (void)arg;
    buf_append_str(detail, settings.allow_private ? "private addresses allowed" : "public addresses only");
    return true;
}

static enum gw_err read_settings(const struct config *cfg, struct buf *errors)
{
    settings.allow_private = config_get_bool(cfg, "FETCH_ALLOW_PRIVATE", false);
    settings.ignore_robots = config_get_bool(cfg, "FETCH_IGNORE_ROBOTS", false);
    settings.max_bytes = (size_t)config_get_int(cfg, "FETCH_MAX_BYTES", 5 * 1024 * 1024);
    settings.timeout_ms = (unsigned)config_get_int(cfg, "FETCH_TIMEOUT", 30) * 1000u;
    settings.ndenied = 0;
    size_t count = 0;
    char **denied = config_get_list(cfg, "FETCH_DENY_ADDRESSES", &count);
    enum gw_err err = GW_OK;
    for (size_t i = 0; i < count; i++) {
        struct in_addr v4;
        struct in6_addr *slot = &settings.denied[settings.ndenied];
        if (settings.ndenied >= MAX_DENIED_ADDRESSES) {
            buf_printf(errors, "ERROR: FETCH_DENY_ADDRESSES: at most %d addresses\n", MAX_DENIED_ADDRESSES);
            err = GW_ERR_CONFIG;
            break;
        }
        if (inet_pton(AF_INET, denied[i], &v4) == 1) {
            memset(slot, 0, sizeof(*slot));
            slot->s6_addr[10] = slot->s6_addr[11] = 0xFF;
            memcpy(&slot->s6_addr[12], &v4, 4);
        } else if (inet_pton(AF_INET6, denied[i], slot) != 1) {
            buf_printf(errors, "ERROR: FETCH_DENY_ADDRESSES: '%.64s' is not an IP address\n", denied[i]);
            err = GW_ERR_CONFIG;
            continue;
        }
        settings.ndenied++;
    }
    config_list_free(denied, count);
    return err;
}

static enum gw_err fetch_setup(struct role_context *ctx, struct buf *errors)
{
    enum gw_err err = read_settings(ctx->cfg, errors);
    if (err)
        return err;
    struct mcp_server_options options = {
        .service = "mcp-fetch",
        .server_name = "mcp-fetch",
        .server_version = MCPGW_VERSION,
        .instructions = "Tool fetch: a web page as Markdown (or raw), in pages of max_length characters.",
        .stateful = false,
    };
    struct mcp_server *server = mcp_server_create(&options, ctx->cfg, errors);
    if (!server)
        return GW_ERR_CONFIG;
    if (errors->len) /* warnings only */
        log_write(LOG_WARNING, buf_cstr(errors), NULL, 0);
    buf_reset(errors);
    err = mcp_server_add_tool(server, &tool_fetch_def, errors);
    if (!err)
        err = mcp_server_add_prompt(server, &prompt_fetch_def, errors);
    if (err) {
        mcp_server_free(server);
        return err;
    }
    ctx->state = server;
    if (!outcomes_metric)
        outcomes_metric = metrics_register(METRIC_COUNTER, "mcp_fetch_outcomes_total",
                                           "Fetch tool and prompt calls by outcome (ok, refused_address, "
                                           "robots_denied, http_error, binary, too_large, timeout, ...)",
                                           (const char *const[]){"outcome"}, 1, NULL, 0);
    health_add_check("ssrf", ssrf_check, NULL, false);
    log_write(LOG_INFO, "MCP fetch service ready",
              (struct log_field[]){log_bool("allow_private", settings.allow_private),
                                   log_bool("ignore_robots", settings.ignore_robots),
                                   log_int("max_bytes", (long long)settings.max_bytes),
                                   log_int("timeout_seconds", settings.timeout_ms / 1000)},
              4);
    return GW_OK;
}

static void fetch_teardown(struct role_context *ctx)
{
    mcp_server_free(ctx->state);
    ctx->state = NULL;
    robots_cache_clear();
}

static void fetch_handle(struct http_exchange *ex, void *arg)
{
    struct role_context *ctx = arg;
    if (health_route(ex) || mcp_server_handle(ctx->state, ex))
        return;
    http_respond_error(ex, 404, "not_found", "The MCP endpoint is /mcp");
}

static void fetch_worker_init(struct worker *w, void *arg)
{
    struct role_context *ctx = arg;
    struct http_client *client = NULL;
    if (http_client_create(w->base, &client) != GW_OK)
        log_write(LOG_ERROR, "Could not set up the outbound HTTP client", NULL, 0);
    w->role_data = client;
    mcp_server_worker_init(ctx->state, w);
}

static void fetch_worker_drain(struct worker *w, void *arg)
{
    struct role_context *ctx = arg;
    mcp_server_worker_drain(ctx->state, w);
}

static void fetch_worker_fini(struct worker *w, void *arg)
{
    struct role_context *ctx = arg;
    /* The MCP server first: calls still waiting are finished (cancelled) before their client goes. */
    mcp_server_worker_fini(ctx->state, w);
    http_client_free(w->role_data);
    w->role_data = NULL;
}

static const struct role fetch_role = {
    .service = "mcp-fetch",
    .command = "fetch",
    .summary = "MCP fetch service (mcp-fetch): tool and prompt fetch, a web page as Markdown, SSRF-safe",
    .port_variable = "MCP_FETCH_PORT",
    .default_port = 3000,
    .extra_help =
        "\nVariables: FETCH_ALLOW_PRIVATE (default false: private, loopback, link-local, CGNAT, multicast\n"
        "addresses refused, on every connection and redirect), FETCH_DENY_ADDRESSES (addresses refused\n"
        "even so), FETCH_IGNORE_ROBOTS (default false), FETCH_MAX_BYTES (default 5 MiB, decoded),\n"
        "FETCH_TIMEOUT (seconds, default 30), MCP_PROTOCOL_VERSIONS_SUPPORTED, MCP_CORS_ORIGINS.\n"
        "The MCP endpoint is /mcp.\n",
    .setup = fetch_setup,
    .teardown = fetch_teardown,
    .handler = fetch_handle,
    .worker_init = fetch_worker_init,
    .worker_fini = fetch_worker_fini,
    .worker_drain = fetch_worker_drain,
};

int fetch_main(int argc, char **argv)
{
    return role_main(&fetch_role, argc, argv);
}

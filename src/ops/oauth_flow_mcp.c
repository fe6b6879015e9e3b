/*
 * oauth_flow_mcp.c - the second half of `mcpgw test-oauth-flow`: MCP initialize, tools/list and
 * tools/call through the router with the token, revocation (the router must then refuse the
 * token) and the deletion of the test client.
 */
#include "oauth_flow_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "core/alloc.h"
#include "core/config.h"
#include "core/crypto.h"
#include "core/public_url.h"
#include "core/urlform.h"
#include "oauth_flow_parse.h"

#define REVOCATION_WAIT_MS 5000 /* the router learns revocations within about a second */

/* POST one JSON-RPC message to the MCP endpoint with the token and, once known, the session and
 * protocol version headers. false (step failed, printed) when no HTTP answer came; else the
 * caller frees *r. */
static bool mcp_post(struct flow *f, const char *step, const char *body, struct flow_response *r)
{
    char session[1024], version[128];
    const char *extra[3] = {NULL, NULL, NULL};
    size_t n = 0;
    if (f->session_id) {
        snprintf(session, sizeof(session), "Mcp-Session-Id: %s", f->session_id);
        extra[n++] = session;
    }
    if (f->protocol_version) {
        snprintf(version, sizeof(version), "MCP-Protocol-Version: %s", f->protocol_version);
        extra[n++] = version;
    }
    struct flow_request req = {.method = "POST",
                               .url = f->resource,
                               .content_type = "application/json",
                               .accept = "application/json, text/event-stream",
                               .bearer = f->access_token,
                               .body = body,
                               .extra = extra};
    return flow_send(f, step, &req, r);
}

static json_t *mcp_call(struct flow *f, const char *step, long long id, const char *method, json_t *params)
{
    json_t *msg = json_pack("{s:s, s:I, s:s}", "jsonrpc", "2.0", "id", (json_int_t)id, "method", method);
    if (params)
        json_object_set_new(msg, "params", params);
    char *body = json_dumps(msg, JSON_COMPACT);
    json_decref(msg);
    struct flow_response r;
    json_t *answer = NULL;
    if (mcp_post(f, step, body, &r)) {
        answer = r.status == 200
                     ? flow_jsonrpc_answer(r.content_type, r.body.data ? r.body.data : "", r.body.len, id)
                     : NULL;
        if (!answer && r.status == 401 && strcmp(method, "initialize") == 0) {
            /* a token auth just issued, refused by the router: usually not the same key */
            struct buf d;
            buf_init(&d, 4096);
            flow_describe_answer(&d, &r);
            flow_fail(f, step,
                      "%s: %s (the router refuses a token auth has just issued: compare their keys with "
                      "`mcpgw show-config | grep JWT_SECRET`)",
                      method, buf_cstr(&d));
            buf_free(&d);
        } else if (!answer) {
            flow_failed_answer(f, step, method, &r);
        } else if (json_object_get(answer, "error")) {
            flow_failed_answer(f, step, method, &r);
            json_decref(answer);
            answer = NULL;
        } else if (r.session_id && !f->session_id) {
            f->session_id = gw_strdup(r.session_id);
        }
    }
    flow_response_free(&r);
    free(body);
    return answer;
}

bool flow_step_initialize(struct flow *f)
{
    const char *step = "MCP initialize";
    const char *version = config_get(f->cfg, "MCP_PROTOCOL_VERSION", "2025-06-18");
    json_t *params = json_pack("{s:s, s:{}, s:{s:s, s:s}}", "protocolVersion", version, "capabilities",
                               "clientInfo", "name", "mcpgw-test-oauth-flow", "version", MCPGW_VERSION);
    json_t *answer = mcp_call(f, step, 1, "initialize", params);
    if (!answer)
        return false;
    json_t *result = json_object_get(answer, "result");
    const char *negotiated = json_string_value(json_object_get(result, "protocolVersion"));
    json_t *info = json_object_get(result, "serverInfo");
    const char *name = json_string_value(json_object_get(info, "name"));
    const char *sv = json_string_value(json_object_get(info, "version"));
    bool ok = negotiated != NULL;
    if (!ok) {
        flow_fail(f, step, "the answer has no result.protocolVersion");
    } else {
        f->protocol_version = gw_strdup(negotiated);
        /* the client's half of the handshake; a notification gets 202 without a body */
        struct flow_response r;
        if (!mcp_post(f, step, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}", &r))
            ok = false;
        else if (r.status != 202 && r.status != 200 && r.status != 204)
            ok = flow_failed_answer(f, step, "notifications/initialized", &r);
        flow_response_free(&r);
    }
    if (ok) {
        char m[64];
        flow_say(f, "OK", step, "server %s %s, protocol %s%s%s", name ? name : "(unnamed)", sv ? sv : "",
                 negotiated, f->session_id ? ", session " : ", stateless",
                 f->session_id ? flow_masked(f->session_id, m, sizeof(m)) : "");
    }
    json_decref(answer);
    return ok;
}

bool flow_step_tools_list(struct flow *f)
{
    const char *step = "MCP tools/list";
    json_t *answer = mcp_call(f, step, 2, "tools/list", json_object());
    if (!answer)
        return false;
    json_t *tools = json_object_get(json_object_get(answer, "result"), "tools");
    bool ok = json_is_array(tools);
    if (!ok) {
        flow_fail(f, step, "the answer has no result.tools array");
    } else {
        f->tools = json_incref(tools);
        struct buf names;
        buf_init(&names, 4096);
        size_t i;
        json_t *t;
        json_array_foreach(tools, i, t)
        {
            if (names.len > 200) {
                buf_append_str(&names, ", ...");
                break;
            }
            const char *name = json_string_value(json_object_get(t, "name"));
            buf_printf(&names, "%s%s", i ? ", " : "", name ? name : "?");
        }
        flow_say(f, "OK", step, "%zu tools: %s", json_array_size(tools), buf_cstr(&names));
        buf_free(&names);
    }
    json_decref(answer);
    return ok;
}

bool flow_step_tools_call(struct flow *f)
{
    const char *step = "MCP tools/call";
    bool have_echo = false;
    size_t i;
    json_t *t;
    json_array_foreach(f->tools, i, t)
    {
        const char *name = json_string_value(json_object_get(t, "name"));
        if (name && strcmp(name, "echo") == 0)
            have_echo = true;
    }
    if (!have_echo) {
        flow_say(f, "SKIP", step, "%s has no echo tool (nothing is called that could have effects)",
                 f->service);
        return true;
    }
    char message[96];
    unsigned char rnd[6];
    char hex[13];
    crypto_random_bytes(rnd, sizeof(rnd));
    crypto_hex_encode(rnd, sizeof(rnd), hex);
    snprintf(message, sizeof(message), "test-oauth-flow %s", hex);
    json_t *answer = mcp_call(f, step, 3, "tools/call",
                              json_pack("{s:s, s:{s:s}}", "name", "echo", "arguments", "message", message));
    if (!answer)
        return false;
    json_t *result = json_object_get(answer, "result");
    const char *text =
        json_string_value(json_object_get(json_array_get(json_object_get(result, "content"), 0), "text"));
    bool ok = text && strstr(text, message) && !json_is_true(json_object_get(result, "isError"));
    if (ok)
        flow_say(f, "OK", step, "echo answered \"%s\"", message);
    else
        flow_fail(f, step, "echo answered %s instead of \"%s\"", text ? text : "no text", message);
    json_decref(answer);
    return ok;
}

static bool revoke_one(struct flow *f, const char *step, const char *token, const char *hint, bool quiet)
{
    struct buf form;
    buf_init(&form, 64 * 1024);
    flow_form_add(&form, "token", token);
    flow_form_add(&form, "token_type_hint", hint);
    flow_form_add(&form, "client_id", f->client_id);
    struct flow_response r;
    struct flow_request req = {.method = "POST",
                               .url = f->revocation_endpoint,
                               .content_type = "application/x-www-form-urlencoded",
                               .accept = "application/json",
                               .body = buf_cstr(&form)};
    bool ok;
    if (quiet) {
        ok = flow_http_do(&f->http, &req, &r) && r.status == 200;
    } else {
        ok = flow_send(f, step, &req, &r);
        if (ok && r.status != 200)
            ok = flow_failed_answer(f, step, hint, &r);
    }
    flow_response_free(&r);
    crypto_wipe(form.data, form.len);
    buf_free(&form);
    return ok;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool flow_step_revoke(struct flow *f)
{
    const char *step = "revoke";
    if (!f->revocation_endpoint) {
        flow_say(f, "SKIP", step, "the authorization server publishes no revocation_endpoint");
        return true;
    }
    if (!revoke_one(f, step, f->access_token, "access_token", false) ||
        !revoke_one(f, step, f->refresh_token, "refresh_token", false))
        return false;
    /* The router checks revocations itself (within about a second): ask until it refuses. */
    long long start = now_ms();
    long status = 0;
    while (now_ms() - start < REVOCATION_WAIT_MS) {
        struct flow_response r;
        struct flow_request req = {.method = "POST",
                                   .url = f->resource,
                                   .content_type = "application/json",
                                   .accept = "application/json, text/event-stream",
                                   .bearer = f->access_token,
                                   .body = "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"ping\"}"};
        bool answered = flow_http_do(&f->http, &req, &r);
        status = r.status;
        flow_response_free(&r);
        if (answered && status == 401)
            break;
        usleep(100 * 1000);
    }
    if (status != 401)
        return flow_fail(
            f, step,
            "both tokens revoked, but the router still answers %ld (not 401) to the revoked access "
            "token after %d s",
            status, REVOCATION_WAIT_MS / 1000);
    flow_say(f, "OK", step, "access and refresh token revoked; the router refuses the revoked token (401)");
    return true;
}

static bool delete_client(struct flow *f, const char *step, bool quiet)
{
    struct flow_response r;
    struct flow_request req = {
        .method = "DELETE", .url = f->registration_uri, .bearer = f->registration_token};
    bool ok;
    if (quiet) {
        ok = flow_http_do(&f->http, &req, &r) && r.status / 100 == 2;
    } else {
        ok = flow_send(f, step, &req, &r);
        if (ok && r.status != 204 && r.status != 200)
            ok = flow_failed_answer(f, step, "DELETE of the test client", &r);
    }
    flow_response_free(&r);
    return ok;
}

bool flow_step_cleanup(struct flow *f)
{
    const char *step = "clean-up";
    if (!f->registration_uri || !f->registration_token) {
        flow_say(f, "SKIP", step, "no registration_client_uri: the test client %s stays registered",
                 f->client_id);
        return true;
    }
    if (!delete_client(f, step, false))
        return false;
    flow_say(f, "OK", step, "test client %s deleted (RFC 7592)", f->client_id);
    flow_wipe_free(f->registration_token);
    f->registration_token = NULL;
    return true;
}

/* After a failure: take back what was handed out, quietly and as far as possible. */
void flow_cleanup_quietly(struct flow *f)
{
    if (f->revocation_endpoint && f->client_id) {
        if (f->access_token)
            revoke_one(f, "clean-up", f->access_token, "access_token", true);
        if (f->refresh_token)
            revoke_one(f, "clean-up", f->refresh_token, "refresh_token", true);
    }
    if (f->registration_uri && f->registration_token)
        delete_client(f, "clean-up", true);
}

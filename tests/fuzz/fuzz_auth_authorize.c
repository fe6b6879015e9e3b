/*
 * fuzz_auth_authorize.c - any query string through the /authorize parameter checks, and any
 * bytes through the session-cookie decoder and the Cookie header parser of the browser half.
 *
 * Invariants: a request is either valid (every required field present, S256 challenge of 43
 * characters, a scope within the supported ones, no error) or carries exactly one kind of error
 * (page_error, or an OAuth error code with a description); HTML escaping of every field leaves
 * no markup character; a cookie decodes only with a valid signature, which random bytes never
 * have.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/authorize_params.h"
#include "auth/pages.h"
#include "auth/session.h"
#include "core/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_escaped(const char *s)
{
    if (!s)
        return;
    struct buf b;
    buf_init(&b, 1 << 20);
    if (html_escape(&b, s) != GW_OK)
        abort();
    if (strpbrk(buf_cstr(&b), "<>\"'"))
        abort();
    buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const scopes[] = {"mcp", "mcp:admin"};
    const char *query = (const char *)data;
    struct authorize_request r;
    bool ok = authorize_request_parse(query, size, scopes, 2, &r);
    if (ok) {
        if (r.page_error || r.error || !r.client_id || !r.code_challenge || strlen(r.code_challenge) != 43 ||
            !r.scope || !scope_is_subset(r.scope, "mcp mcp:admin") || strcmp(r.response_type, "code") != 0 ||
            strcmp(r.code_challenge_method, "S256") != 0)
            abort();
    } else {
        if (!r.page_error && !r.error)
            abort();
        if (r.error && !r.error_description)
            abort();
    }
    if (r.state && strlen(r.state) > AUTHORIZE_MAX_STATE)
        abort();
    check_escaped(r.client_id);
    check_escaped(r.redirect_uri);
    check_escaped(r.state);
    check_escaped(r.scope);
    check_escaped(r.resource);
    authorize_request_free(&r);

    /* The same bytes as a cookie value and as a Cookie header. */
    static bool keyed;
    if (!keyed) {
        session_setup_for_tests("fuzzing key, 32 bytes long......", 32, true);
        keyed = true;
    }
    struct session s;
    if (session_decode(query, size, 0, &s) == GW_OK)
        abort(); /* a forged signature */
    char *header = malloc(size + 1);
    memcpy(header, data, size);
    header[size] = '\0';
    struct strview v;
    if (cookie_find(header, "__Host-mcpgw_session", &v) && (v.ptr < header || v.ptr + v.len > header + size))
        abort();
    free(header);
    return 0;
}

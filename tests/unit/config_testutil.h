/*
 * config_testutil.h - helpers shared by the configuration unit tests (static inline so that a
 * test file may use only some of them).
 */
#ifndef MCPGW_TESTS_CONFIG_TESTUTIL_H
#define MCPGW_TESTS_CONFIG_TESTUTIL_H

#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"

/* A configuration that passes validation; tests append the line under test. */
#define VALID_BASE                                                                                           \
    "BASE_DOMAIN=gateway.example.com\nGITHUB_CLIENT_ID=Iv1.abc\nGITHUB_CLIENT_SECRET=s3cr3t\n"               \
    "ACME_EMAIL=ops@example.com\n"

static inline struct config *load_ok(const char *text)
{
    struct buf errors;
    buf_init(&errors, 1 << 20);
    struct config *cfg = NULL;
    enum gw_err err = config_load_text(text, strlen(text), false, &cfg, &errors);
    if (err)
        fprintf(stderr, "unexpected load errors:\n%s", buf_cstr(&errors));
    assert_int_equal(err, GW_OK);
    assert_non_null(cfg);
    assert_int_equal(errors.len, 0);
    buf_free(&errors);
    return cfg;
}

/* The error text of a load that must fail. Caller frees. */
static inline char *load_errors(const char *text, size_t len)
{
    struct buf errors;
    buf_init(&errors, 1 << 20);
    struct config *cfg = (struct config *)1;
    assert_int_equal(config_load_text(text, len, false, &cfg, &errors), GW_ERR_CONFIG);
    assert_null(cfg);
    return buf_take(&errors);
}

/* The validation messages of a configuration that loads ("" when valid). Caller frees. */
static inline char *validation_of(const char *text)
{
    struct config *cfg = load_ok(text);
    struct buf errors;
    buf_init(&errors, 1 << 20);
    enum gw_err err = config_validate(cfg, &errors);
    assert_int_equal(err, errors.len ? GW_ERR_CONFIG : GW_OK);
    config_free(cfg);
    return buf_take(&errors);
}

static inline void assert_value(const struct config *cfg, const char *name, const char *expected)
{
    const char *value = config_get(cfg, name, NULL);
    assert_non_null(value);
    assert_string_equal(value, expected);
}

static inline void assert_validation(const char *text, const char *expected)
{
    char *errors = validation_of(text);
    assert_string_equal(errors, expected);
    free(errors);
}

#endif

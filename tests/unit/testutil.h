/*
 * testutil.h - shared helpers for the cmocka unit tests.
 */
#ifndef MCPGW_TESTS_TESTUTIL_H
#define MCPGW_TESTS_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#endif

/*
 * testutil.h - shared helpers for the cmocka unit tests (static inline so that a test file may
 * use only some of them).
 */
#ifndef MCPGW_TESTS_TESTUTIL_H
#define MCPGW_TESTS_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <sys/stat.h>

static inline int testutil_remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* rm -rf dir (a test's temporary directory), without following symbolic links. */
static inline void remove_dir_tree(const char *dir)
{
    nftw(dir, testutil_remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

#endif

/* SPDX-License-Identifier: MIT */
#ifndef IOH_TESTS_KERNEL_PATH_H
#define IOH_TESTS_KERNEL_PATH_H

#include <stddef.h>

/*
 * The iohandover binary of the variant this test program was built in
 * (build/<variant>/iohandover beside build/<variant>/tests/). 0, or -1
 * with a message on stderr when it is missing.
 */
int test_kernel_path(char *out, size_t len);

#endif /* IOH_TESTS_KERNEL_PATH_H */

/* SPDX-License-Identifier: MIT */
/*
 * The one place iohandover's version is written: --version, the JSON
 * report's "version", the man pages and the pkg-config file (the Makefile
 * reads the line below).
 */
#ifndef IOH_VERSION_H
#define IOH_VERSION_H

#define IOH_VERSION "0.14.0"

#endif /* IOH_VERSION_H */

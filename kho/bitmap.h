/* SPDX-License-Identifier: MIT */
/*
 * Word-wise bitmap helpers for kho (internal). Bit i lives in word i / 64,
 * bit i % 64. Range operations take a half-open bit range [start, end) and
 * touch whole words where they can, so a run of n bits costs n / 64.
 */
#ifndef IOH_KHO_BITMAP_H
#define IOH_KHO_BITMAP_H

#include <stdbool.h>
#include <stdint.h>

#define KHO_BITS_PER_WORD 64u
#define KHO_BITMAP_WORDS(nbits) (((nbits) + 63u) / 64u)

static inline bool kho_bit_test(const uint64_t *w, uint64_t i)
{
	return (w[i / 64] >> (i % 64)) & 1u;
}

static inline void kho_bit_set(uint64_t *w, uint64_t i)
{
	w[i / 64] |= 1ull << (i % 64);
}

static inline void kho_bit_clear(uint64_t *w, uint64_t i)
{
	w[i / 64] &= ~(1ull << (i % 64));
}

/* Mask of bits [lo, hi) within one word, 0 <= lo < hi <= 64. */
static inline uint64_t kho_word_mask(unsigned lo, unsigned hi)
{
	uint64_t upto = hi == 64 ? ~0ull : (1ull << hi) - 1;
	return upto & ~((1ull << lo) - 1);
}

enum kho_bitop { KHO_BITS_SET, KHO_BITS_CLEAR };

static inline void kho_bits_apply(uint64_t *w, uint64_t start, uint64_t end,
				  enum kho_bitop op)
{
	while (start < end) {
		uint64_t wi = start / 64;
		unsigned lo = start % 64;
		unsigned hi = end - wi * 64 >= 64 ? 64 : (unsigned)(end - wi * 64);
		uint64_t m = kho_word_mask(lo, hi);
		if (op == KHO_BITS_SET)
			w[wi] |= m;
		else
			w[wi] &= ~m;
		start = wi * 64 + hi;
	}
}

/* True when every bit of [start, end) is set (want) or clear (!want). */
static inline bool kho_bits_all(const uint64_t *w, uint64_t start,
				uint64_t end, bool want)
{
	while (start < end) {
		uint64_t wi = start / 64;
		unsigned lo = start % 64;
		unsigned hi = end - wi * 64 >= 64 ? 64 : (unsigned)(end - wi * 64);
		uint64_t m = kho_word_mask(lo, hi);
		uint64_t v = want ? w[wi] : ~w[wi];
		if ((v & m) != m)
			return false;
		start = wi * 64 + hi;
	}
	return true;
}

static inline uint64_t kho_bits_count(const uint64_t *w, uint64_t start,
				      uint64_t end)
{
	uint64_t n = 0;
	while (start < end) {
		uint64_t wi = start / 64;
		unsigned lo = start % 64;
		unsigned hi = end - wi * 64 >= 64 ? 64 : (unsigned)(end - wi * 64);
		n += (uint64_t)__builtin_popcountll(w[wi] & kho_word_mask(lo, hi));
		start = wi * 64 + hi;
	}
	return n;
}

/* First set bit at or after start, below nbits; nbits when none. */
static inline uint64_t kho_bit_next_set(const uint64_t *w, uint64_t start,
					uint64_t nbits)
{
	while (start < nbits) {
		uint64_t wi = start / 64;
		uint64_t v = w[wi] & ~((1ull << (start % 64)) - 1);
		if (v) {
			uint64_t i = wi * 64 + (uint64_t)__builtin_ctzll(v);
			return i < nbits ? i : nbits;
		}
		start = (wi + 1) * 64;
	}
	return nbits;
}

/* First clear bit at or after start, below nbits; nbits when none. */
static inline uint64_t kho_bit_next_clear(const uint64_t *w, uint64_t start,
					  uint64_t nbits)
{
	while (start < nbits) {
		uint64_t wi = start / 64;
		uint64_t v = ~w[wi] & ~((1ull << (start % 64)) - 1);
		if (v) {
			uint64_t i = wi * 64 + (uint64_t)__builtin_ctzll(v);
			return i < nbits ? i : nbits;
		}
		start = (wi + 1) * 64;
	}
	return nbits;
}

static inline bool kho_bits_any(const uint64_t *w, uint64_t nbits)
{
	return kho_bit_next_set(w, 0, nbits) < nbits;
}

#endif /* IOH_KHO_BITMAP_H */

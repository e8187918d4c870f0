/*
 * switch.pml: the live update's page-table switch, as a Promela model.
 *
 * What is checked
 * ---------------
 * The live update engine moves a device from the old (preserved) page
 * table to a new (rebuilt) one with identical translations:
 *
 *   H1  build the new table completely (every page written);
 *   H2  write the configuration entry's root word, old root -> new root,
 *       in one 64-bit store (iommu_drv_write_ste: one critical word, so
 *       the update is hitless; IHI 0070 3.21.3, docs/reference.md
 *       section 3 rule 6);
 *   H3  CFGI (configuration invalidation, CMD_CFGI_STE), then TLBI for the
 *       domain (CMD_TLBI_S12_VMALL: IOTLB and walk cache);
 *   H4  SYNC (CMD_SYNC): completes only when every invalidation issued
 *       before it has taken effect, no walk that was in flight when one
 *       took effect can still use an invalidated pointer or entry, and
 *       every DMA translated by an invalidated entry has finished
 *       (IHI 0070 3.21.1 and 4.7.3, docs/reference.md section 3 rule 5).
 *       By default the model follows the driver: iommu_drv_write_ste
 *       ends with CFGI + SYNC, then TLBI + SYNC (a SYNC between the two
 *       invalidations); -DSINGLE_SYNC gives CFGI, TLBI, one SYNC;
 *   H5  only then free the old table pages; a freed page may be reused by
 *       its next owner and overwritten (docs/reference.md section 4
 *       sequence 5).
 *
 * while NW DMA walkers translate one IOVA over and over. Properties, all
 * as assertions, checked over every interleaving (exhaustive, bounded by
 * the finite state space):
 *
 *   P1  no walk reads a table page after it was freed (use-after-free);
 *   P2  every translation a walker completes is the old or the new one,
 *       and, the two tables holding the same mapping, equals OA_GOOD: no
 *       misdirected DMA and no translation fault (the switch is hitless,
 *       docs/reference.md section 4 sequence 9);
 *   P3  when a page is freed, no configuration or walk cache entry can
 *       still lead a walk to it (the machine model's "freed while its walk
 *       cache could still reach it").
 *
 * With -DLIVENESS the model carries one LTL claim instead, "the switch
 * completes" (<> sw_done), to be checked under weak fairness: the SYNC
 * cannot be held off for ever by walkers that keep starting new walks.
 *
 * Hardware (the SMMU's command processing):
 *   default                   an issued invalidation takes effect at any
 *                             moment before the next SYNC completes, so
 *                             two invalidations between SYNCs may take
 *                             effect in either order ("consuming a
 *                             command is not completing it": only SYNC
 *                             orders completion, IHI 0070 4.7.3;
 *                             docs/reference.md section 3 rule 5)
 *   IN_ORDER_HW               each invalidation takes effect when issued,
 *                             in command order (what hw/iommu.c does)
 *   The single-SYNC sequence is safe on IN_ORDER_HW only: without it, the
 *   TLBI may take effect before the CFGI; a walk that then starts from the
 *   stale configuration cache refills the walk cache with an old pointer
 *   that no later invalidation removes (run.sh's "single-sync" row).
 *
 * Broken protocols (one macro each, every one must be caught):
 *   BUG_FREE_BEFORE_SYNC      H5 before the last SYNC
 *   BUG_SYNC_NO_WAIT          every SYNC completes once the invalidations
 *                             took effect, without waiting for the walks
 *                             in flight (docs/reference.md section 3
 *                             rule 5)
 *   BUG_SKIP_CFGI             H3 without CFGI: a stale configuration
 *                             cache keeps the old root
 *   BUG_PUBLISH_BEFORE_BUILD  H2 before H1: walks see unwritten pages
 *   BUG_SKIP_TLBI             H3 without TLBI: stale walk cache
 *   BUG_TLBI_BEFORE_CFGI      TLBI, SYNC, CFGI: a walk started between
 *                             the two uses the stale configuration and
 *                             refills the walk cache with an old pointer
 * Property selection (to show what each property catches on its own):
 *   NO_P1, NO_P2, NO_P3       drop that property's assertion
 * Vacuity checks (each must FAIL, proving the interesting behaviour is
 * really reachable, so the pass of the correct model is not vacuous):
 *   VAC_NEVER_NEW             "no walk ever translates via the new table"
 *   VAC_NO_STALE_WALK         "no walk reads an old page after H2"
 *   VAC_SYNC_NEVER_WAITS      "the SYNC never has to wait for a walk"
 *
 * The abstraction
 * ---------------
 * - Memory: NPAGES = 2 * LEVELS table pages, LEVELS pages per table (old
 *   table OLD, pages 0..LEVELS-1; new table NEW, pages LEVELS..). Only the
 *   one entry on each page that translates the walked IOVA is modelled:
 *   a pointer to the next level's page (E_PTR(p)), the leaf (E_LEAF, the
 *   mapping to OA_GOOD), invalid (E_INVALID) or E_GARBAGE (whatever a
 *   previous or next owner left; a walk decodes it as a wrong output
 *   address or as a fault, nondeterministically). freed[p] says the page
 *   is not ours: the new pages start freed and full of garbage, the host
 *   allocates them, writes them, and frees the old ones at the end.
 * - Configuration entry: only the root word (ste_root); the other words
 *   do not change in a hitless switch, and the root word is read and
 *   written with 64-bit single-copy atomicity.
 * - Caches, one entry each (one IOVA, one stream, one domain):
 *   config cache (cc_*: the root word), walk cache (wc_*[l]: the pointer
 *   to the level-l table, tagged by domain and IOVA, so it survives the
 *   root change), IOTLB (tl_*: the leaf result). A lookup may always miss;
 *   entries are evicted at any time; results are filled at the end of a
 *   walk, nondeterministically, and only valid results are cached
 *   (docs/reference.md section 3 rule 3). Speculative fills are walks too:
 *   every walk here is treated as one whose result is used, which covers
 *   prefetches.
 * - Invalidation and completion: when an invalidation takes effect it
 *   clears its cache and marks every walk then in flight as "affected"
 *   (pending[]); an affected walk never fills the invalidated cache
 *   afterwards (a fill it would make is discarded: the architecture
 *   requires the targeted entries to be invalid at completion, SMMU
 *   3.21.1). A CFGI does not touch the walk cache or IOTLB, so a walk
 *   affected only by a CFGI may still fill those. The SYNC waits until
 *   the invalidations have taken effect and no affected walk is in
 *   flight; a walk is in flight from its first lookup until its DMA has
 *   finished. The smmu process performs queued invalidations.
 * - Host steps are sequentially consistent: the driver's barriers
 *   (dma_wmb before publishing the root, the command queue's ordering and
 *   the control dependency on SYNC completion before the frees) are taken
 *   as given, not modelled.
 *
 * Not modelled: weak memory ordering and non-coherent walks (cache
 * cleans); multi-word configuration updates (torn entries: covered by
 * iommu_drv_write_ste's own test); several IOVAs, ranges, level hints and
 * leaf-only invalidation; block/table size changes and TLB conflicts
 * (BBM levels); walks that are stopped and restarted instead of waited
 * for; ATS/ATC; the DMA data itself (only the translation is checked);
 * more than NW walkers (NW=3 takes minutes, see docs/protocol.md).
 */

/* A walk's lookups of the IOTLB, the configuration (cache or entry) and
 * the walk cache happen in one step; each table page read is its own
 * step, so the host and the SMMU can act between any two reads. */

#ifndef NW
#define NW 2            /* DMA walkers */
#endif
#ifndef LEVELS
#define LEVELS 2        /* table levels, 2 or 3 */
#endif
#define NPAGES (2 * LEVELS)
#define OLD 0
#define NEW 1
#define PAGE(t, l) ((t) * LEVELS + (l))

/* An entry on a table page (only the one on the walked IOVA's path). */
#define E_INVALID 0
#define E_PTR(p) ((p) + 1)             /* 1..NPAGES: next table at page p */
#define IS_PTR(e) ((e) >= 1 && (e) <= NPAGES)
#define E_LEAF 100                     /* the mapping IOVA -> OA_GOOD */
#define E_GARBAGE 200                  /* left by another owner */

/* A walk's outcome. */
#define OA_PENDING 0
#define OA_GOOD 1                      /* old and new translation alike */
#define OA_BAD 2                       /* misdirected */
#define OA_FAULT 3                     /* translation fault */

#define NONE 255

byte pg[NPAGES];                       /* page contents */
bool freed[NPAGES];                    /* page not (or no longer) ours */
byte ste_root;                         /* configuration entry, root word */

bool cc_valid;                         /* configuration cache */
byte cc_root;
bool wc_valid[LEVELS];                 /* walk cache, [1..LEVELS-1] used */
byte wc_ptr[LEVELS];
bool tl_valid;                         /* IOTLB */
byte tl_oa;

bool inflight[NW];                     /* walk or its DMA in progress */
bool cfg_hit[NW];                      /* affected by a CFGI */
bool tlb_hit[NW];                      /* affected by a TLBI */
bool pending[NW];                      /* a SYNC must wait for it */
bool cfgi_q, tlbi_q;                   /* issued, not yet performed */

bool ready;                            /* initial state set up */
bool switched;                         /* H2 done (ghost) */
bool sw_done;                          /* H5 done (ghost) */

/* Verdicts, named so that pan's report says which property failed;
 * hidden: set and asserted within one atomic step, not part of the state. */
hidden byte P1_no_read_of_freed_page;
hidden byte P2_translation_old_or_new;
hidden byte P3_freed_page_unreachable;
hidden byte vac_never_new, vac_no_stale_walk, vac_sync_never_waits;

#ifdef LIVENESS
ltl switch_completes { <> sw_done }
#endif

/* P1: a walk reads table page p. */
#ifdef NO_P1
#define CHECK_READ(p) skip
#else
#define CHECK_READ(p) \
	P1_no_read_of_freed_page = !freed[p]; \
	assert(P1_no_read_of_freed_page)
#endif

/* P3: page p is about to be freed: no cache may lead a walk to it. */
#if defined(NO_P3)
#define CHECK_UNREACHABLE(p) skip
#elif LEVELS > 2
#define CHECK_UNREACHABLE(p) \
	P3_freed_page_unreachable = \
		!(cc_valid && cc_root == (p)) && \
		!(wc_valid[1] && wc_ptr[1] == (p)) && \
		!(wc_valid[2] && wc_ptr[2] == (p)); \
	assert(P3_freed_page_unreachable)
#else
#define CHECK_UNREACHABLE(p) \
	P3_freed_page_unreachable = \
		!(cc_valid && cc_root == (p)) && \
		!(wc_valid[1] && wc_ptr[1] == (p)); \
	assert(P3_freed_page_unreachable)
#endif

/* Mark every walk in flight as affected by a CFGI (cfg) or a TLBI. */
inline affect(cfg)
{
	i = 0;
	do
	:: i < NW ->
		if
		:: inflight[i] && cfg -> cfg_hit[i] = 1; pending[i] = 1
		:: inflight[i] && !cfg -> tlb_hit[i] = 1; pending[i] = 1
		:: else
		fi;
		i++
	:: else -> i = 0; break
	od
}

/* The effect of CMD_CFGI_STE: drop the cached configuration. */
inline do_cfgi()
{
	cc_valid = 0; cc_root = NONE; affect(1)
}

/* The effect of CMD_TLBI_S12_VMALL: drop the domain's IOTLB and walk
 * cache entries. */
inline do_tlbi()
{
	tl_valid = 0; tl_oa = 0;
	i = 1;
	do
	:: i < LEVELS -> wc_valid[i] = 0; wc_ptr[i] = NONE; i++
	:: else -> i = 0; break
	od;
	affect(0)
}

/* Issue an invalidation. On in-order hardware it takes effect at once;
 * otherwise the SMMU performs it at some point before the next SYNC
 * completes ("consuming a command is not completing it"), so two queued
 * invalidations may take effect in either order. */
#ifdef IN_ORDER_HW
inline cfgi() { atomic { do_cfgi() } }
inline tlbi() { atomic { do_tlbi() } }
#else
inline cfgi() { cfgi_q = 1 }
inline tlbi() { tlbi_q = 1 }
#endif

/* CMD_SYNC */
inline sync()
{
	/* every invalidation issued before it has taken effect */
	!cfgi_q && !tlbi_q;
#ifdef VAC_SYNC_NEVER_WAITS
	atomic {
		i = 0;
		do
		:: i < NW -> vac_sync_never_waits = !pending[i];
			assert(vac_sync_never_waits); i++
		:: else -> i = 0; break
		od
	}
#endif
#ifdef BUG_SYNC_NO_WAIT
	skip                    /* "completes" without waiting for walks */
#else
	/* completion: no walk affected by the invalidations still in flight */
	i = 0;
	do
	:: i < NW -> !pending[i]; i++
	:: else -> i = 0; break
	od
#endif
}

/* H1: allocate and write the new table, leaf level first. */
inline build()
{
	atomic {
		i = 0;
		do
		:: i < LEVELS -> freed[PAGE(NEW, i)] = 0; i++
		:: else -> i = 0; break
		od
	}
	i = LEVELS - 1;
	do
	:: i == LEVELS - 1 -> pg[PAGE(NEW, i)] = E_LEAF; i--
	:: i < LEVELS - 1 && i != NONE ->
		pg[PAGE(NEW, i)] = E_PTR(PAGE(NEW, i + 1)); i--
	:: i == NONE -> i = 0; break
	od
}

/* H5: free the old pages, top level first; each may then be reused. */
inline free_old()
{
	i = 0;
	do
	:: i < LEVELS ->
		atomic { CHECK_UNREACHABLE(PAGE(OLD, i)); freed[PAGE(OLD, i)] = 1 };
		if
		:: pg[PAGE(OLD, i)] = E_GARBAGE     /* reused and overwritten */
		:: skip                             /* not (yet) reused */
		fi;
		i++
	:: else -> i = 0; break
	od
}

active [NW] proctype walker()
{
	byte root = NONE;                  /* root word this walk uses */
	byte lvl, tbl = NONE, e;
	byte oa = OA_PENDING;
	byte got[LEVELS];                  /* pointers read, for the walk cache */
	bool cfg_read;                     /* root came from memory: cacheable */
	byte k;

	atomic {
		ready;
		k = 0;
		do
		:: k < LEVELS -> got[k] = NONE; k++
		:: else -> k = 0; break
		od
	};
end:
	do
	:: /* a walk: IOTLB lookup or configuration lookup */
		atomic {
			inflight[_pid] = 1;
			if
			:: tl_valid -> oa = tl_oa         /* IOTLB hit */
			:: true ->                        /* miss: walk */
				if
				:: cc_valid -> root = cc_root
				:: true -> root = ste_root; cfg_read = 1
				fi;
				/* start at the root or at a walk-cache entry */
				lvl = 0; tbl = root;
				if
				:: true
				:: wc_valid[1] -> lvl = 1; tbl = wc_ptr[1]
#if LEVELS > 2
				:: wc_valid[2] -> lvl = 2; tbl = wc_ptr[2]
#endif
				fi
			fi
		};
		/* read one table page per step */
		do
		:: oa == OA_PENDING ->
			atomic {
				CHECK_READ(tbl);
#ifdef VAC_NEVER_NEW
				vac_never_new = !(lvl == LEVELS - 1 && tbl >= LEVELS);
				assert(vac_never_new);
#endif
#ifdef VAC_NO_STALE_WALK
				vac_no_stale_walk = !(switched && tbl < LEVELS);
				assert(vac_no_stale_walk);
#endif
				e = pg[tbl];
				if
				:: IS_PTR(e) && lvl < LEVELS - 1 ->
					lvl++; tbl = e - 1; got[lvl] = tbl
				:: e == E_LEAF && lvl == LEVELS - 1 -> oa = OA_GOOD
				:: e == E_GARBAGE ->
					if
					:: oa = OA_BAD
					:: oa = OA_FAULT
					fi
				:: else -> oa = OA_FAULT
				fi;
				e = 0
			}
		:: else -> break
		od;
		/* fill caches with what this walk read, unless an invalidation
		 * issued meanwhile targeted them (then the fill is discarded) */
		atomic {
			if
			:: cfg_read && !cfg_hit[_pid] -> cc_valid = 1; cc_root = root
			:: true
			fi;
			if
			:: got[1] != NONE && !tlb_hit[_pid] ->
				wc_valid[1] = 1; wc_ptr[1] = got[1]
			:: true
			fi;
#if LEVELS > 2
			if
			:: got[2] != NONE && !tlb_hit[_pid] ->
				wc_valid[2] = 1; wc_ptr[2] = got[2]
			:: true
			fi;
#endif
			if
			:: tbl != NONE && oa != OA_FAULT && !tlb_hit[_pid] ->
				tl_valid = 1; tl_oa = oa
			:: true
			fi;
			/* P2: the translation is the old or the new one */
#ifndef NO_P2
			P2_translation_old_or_new = (oa == OA_GOOD);
			assert(P2_translation_old_or_new)
#else
			skip
#endif
		};
		/* the DMA itself, then the walk is over */
		atomic {
			inflight[_pid] = 0; pending[_pid] = 0;
			cfg_hit[_pid] = 0; tlb_hit[_pid] = 0;
			root = NONE; lvl = 0; tbl = NONE; oa = OA_PENDING;
			cfg_read = 0;
			k = 1;
			do
			:: k < LEVELS -> got[k] = NONE; k++
			:: else -> k = 0; break
			od
		}
	:: /* eviction, any time */
		atomic { cc_valid -> cc_valid = 0; cc_root = NONE }
	:: atomic { wc_valid[1] -> wc_valid[1] = 0; wc_ptr[1] = NONE }
#if LEVELS > 2
	:: atomic { wc_valid[2] -> wc_valid[2] = 0; wc_ptr[2] = NONE }
#endif
	:: atomic { tl_valid -> tl_valid = 0; tl_oa = 0 }
	od
}

#ifndef IN_ORDER_HW
/* The SMMU's command processing: performs queued invalidations. */
active proctype smmu()
{
	byte i;
end:
	do
	:: atomic { cfgi_q -> do_cfgi(); cfgi_q = 0 }
	:: atomic { tlbi_q -> do_tlbi(); tlbi_q = 0 }
	od
}
#endif

#ifdef SINGLE_SYNC
#define MID_SYNC skip
#else
#define MID_SYNC sync()
#endif

active proctype host()
{
	byte i;

	/* Initial state: the old table is live, the new pages belong to
	 * someone else and hold garbage. Caches start empty; walks fill them
	 * from the old table. */
	atomic {
		i = 0;
		do
		:: i < LEVELS - 1 ->
			pg[PAGE(OLD, i)] = E_PTR(PAGE(OLD, i + 1));
			pg[PAGE(NEW, i)] = E_GARBAGE; freed[PAGE(NEW, i)] = 1;
			i++
		:: else -> break
		od;
		pg[PAGE(OLD, LEVELS - 1)] = E_LEAF;
		pg[PAGE(NEW, LEVELS - 1)] = E_GARBAGE;
		freed[PAGE(NEW, LEVELS - 1)] = 1;
		ste_root = PAGE(OLD, 0);
		cc_root = NONE;
		i = 0;
		do
		:: i < LEVELS -> wc_ptr[i] = NONE; i++
		:: else -> i = 0; break
		od;
		ready = 1
	}

#ifndef BUG_PUBLISH_BEFORE_BUILD
	build();                                    /* H1 */
#else
	atomic {
		i = 0;
		do
		:: i < LEVELS -> freed[PAGE(NEW, i)] = 0; i++
		:: else -> i = 0; break
		od
	}
#endif
	atomic { ste_root = PAGE(NEW, 0); switched = 1 }   /* H2 */
#ifdef BUG_PUBLISH_BEFORE_BUILD
	build();
#endif

	/* H3, H4: the driver's sequence is iommu_drv_write_ste (critical
	 * word, CFGI_STE, SYNC) then TLBI_DOMAIN, SYNC; with SINGLE_SYNC the
	 * first SYNC is left out (CFGI, TLBI, SYNC) */
#if defined(BUG_TLBI_BEFORE_CFGI)
	tlbi();
	MID_SYNC;
	cfgi();
#else
#ifndef BUG_SKIP_CFGI
	cfgi();                                     /* H3 */
#endif
	MID_SYNC;
#ifndef BUG_SKIP_TLBI
	tlbi();
#endif
#endif

#ifdef BUG_FREE_BEFORE_SYNC
	free_old();
	sync();
#else
	sync();                                     /* H4 */
	free_old();                                 /* H5 */
#endif
	sw_done = 1
}

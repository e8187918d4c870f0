// SPDX-License-Identifier: MIT
/*
 * Sessions of named preserved objects (the Live Update Orchestrator part).
 * Outgoing: an object is preserved when added (the heavy step, done while
 * the workload runs); removing it or destroying its session unpreserves.
 * Incoming: objects are retrieved by (session, name) exactly once.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kho/kho_internal.h"
#include "ioh/ioh.h"

static bool name_ok(const char *name)
{
	return name && name[0] && strlen(name) < KHO_NAME_MAX;
}

struct luo_session *luo_session_find(struct kho *k, const char *name)
{
	for (struct luo_session *s = k->sessions; s; s = s->next)
		if (!strcmp(s->name, name))
			return s;
	return NULL;
}

int luo_session_create(struct kho *k, const char *name,
		       struct luo_session **out)
{
	if (!name_ok(name))
		return -EINVAL;
	if (k->state != KHO_NORMAL)
		return -EBUSY;
	if (luo_session_find(k, name))
		return -EEXIST;
	struct luo_session *s = ioh_fail("kho.alloc") ? NULL :
		calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->k = k;
	strcpy(s->name, name);
	struct luo_session **tail = &k->sessions;
	while (*tail)
		tail = &(*tail)->next;
	*tail = s;
	*out = s;
	return 0;
}

int luo_session_destroy(struct luo_session *s)
{
	struct kho *k = s->k;
	if (k->state != KHO_NORMAL)
		return -EBUSY;
	while (s->objs)
		luo_unpreserve(s, s->objs->name);
	for (struct luo_session **pp = &k->sessions; *pp; pp = &(*pp)->next) {
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	}
	free(s);
	return 0;
}

int luo_preserve(struct luo_session *s, const char *name,
		 const struct kho_obj_ops *ops, void *obj)
{
	struct kho *k = s->k;
	if (!name_ok(name) || !ops || !ops->preserve || !ops->unpreserve ||
	    !ops->serialize)
		return -EINVAL;
	if (k->state != KHO_NORMAL)
		return -EBUSY;
	if (!kho_subsys_find(ops->subsys))
		return -ENOENT;
	for (struct luo_session *t = k->sessions; t; t = t->next)
		for (struct luo_obj *o = t->objs; o; o = o->next)
			if ((t == s && !strcmp(o->name, name)) || o->obj == obj)
				return -EEXIST;
	struct luo_obj *o = ioh_fail("kho.alloc") ? NULL : calloc(1, sizeof(*o));
	if (!o)
		return -ENOMEM;
	strcpy(o->name, name);
	o->ops = ops;
	o->obj = obj;
	int err = ops->preserve(k, obj);
	if (err) {
		free(o);
		return err;
	}
	struct luo_obj **tail = &s->objs;
	while (*tail)
		tail = &(*tail)->next;
	*tail = o;
	s->nr_objs++;
	return 0;
}

int luo_unpreserve(struct luo_session *s, const char *name)
{
	if (s->k->state != KHO_NORMAL)
		return -EBUSY;
	for (struct luo_obj **pp = &s->objs; *pp; pp = &(*pp)->next) {
		struct luo_obj *o = *pp;
		if (strcmp(o->name, name))
			continue;
		o->ops->unpreserve(s->k, o->obj);
		*pp = o->next;
		free(o);
		s->nr_objs--;
		return 0;
	}
	return -ENOENT;
}

int luo_retrieve(struct kho *k, const char *session, const char *name,
		 const char *subsys, int *node)
{
	struct kho_parsed *p = &k->in;
	if (!k->has_incoming)
		return -ENOENT;
	for (size_t i = 0; i < p->nr_objs; i++) {
		struct kho_pobj *o = &p->objs[i];
		if (strcmp(p->sessions[o->session], session) ||
		    strcmp(o->name, name))
			continue;
		if (strcmp(p->subsys[o->subsys].ss->name, subsys))
			return -ENOENT;
		if (o->retrieved)
			return -EALREADY;
		o->retrieved = true;
		*node = o->node;
		return 0;
	}
	return -ENOENT;
}

int luo_peek(const struct kho *k, const char *session, const char *name,
	     const char *subsys, int *node)
{
	const struct kho_parsed *p = &k->in;
	if (!k->has_incoming && !k->in_early)
		return -ENOENT;
	for (size_t i = 0; i < p->nr_objs; i++) {
		const struct kho_pobj *o = &p->objs[i];
		if (strcmp(p->sessions[o->session], session) ||
		    strcmp(o->name, name))
			continue;
		if (!p->subsys[o->subsys].ss ||
		    strcmp(p->subsys[o->subsys].ss->name, subsys))
			return -ENOENT;
		*node = o->node;
		return 0;
	}
	return -ENOENT;
}

int kho_subsys_node(const struct kho *k, const char *name, int *node,
		    uint32_t *version)
{
	if (!k->has_incoming)
		return -ENOENT;
	for (size_t i = 0; i < k->in.nr_subsys; i++) {
		const struct kho_psubsys *ps = &k->in.subsys[i];
		if (ps->ss && !strcmp(ps->ss->name, name)) {
			*node = ps->node;
			*version = ps->version;
			return 0;
		}
	}
	return -ENOENT;
}

int kho_claim_run(struct kho *k, uint64_t pa, unsigned size_lg2,
		  uint64_t count)
{
	return kho_folio_run_flags(&k->alloc, pa, size_lg2, count,
				   KHO_FOLIO_INCOMING, 0, KHO_FOLIO_INCOMING);
}

// SPDX-License-Identifier: GPL-2.0
/*
 * tbprof: a QEMU TCG plugin that counts the guest kernel's executed
 * instructions per translation-block start address, for bench/profile.sh.
 *
 * Every translation block whose guest virtual address is in the kernel half
 * (>= 0xffff800000000000) gets an execution callback that adds the block's
 * instruction count to a counter owned by that address, so executed
 * instructions = executions x instructions of the block, summed over all
 * blocks that start there. (QEMU 10.0's inline per-vCPU add would be
 * cheaper, but with -icount it makes QEMU stop with "Bad icount read"
 * during the guest's boot; a plain callback does not.)
 *
 * The guest chooses the measured windows itself: each time a vCPU executes
 * the block at the address given as mark=ADDR (the entry of the tiny static
 * guest program bench/profile/tbmark.c), the plugin writes every non-zero
 * counter as "ADDR COUNT" lines (hex address, decimal instructions) to
 * OUT.N, N = 0, 1, 2 ..., and sets the counters to zero.
 *
 * Arguments: out=PREFIX (required), mark=ADDR (required, hex), slots=N (most
 * distinct kernel block addresses, default 524288; beyond that blocks go
 * uncounted and the dump header says how many were turned away).
 *
 * QEMU ships no plugin header in Debian, so the few declarations below are
 * written from the public plugin API documentation.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- the part of the QEMU plugin API this plugin uses ---------------------- */

#define TBPROF_EXPORT __attribute__((visibility("default")))

/* The API level QEMU 10.0 accepts (it reports the range it supports when a
 * plugin asks for another one). */
#define TBPROF_API_VERSION 4

typedef uint64_t qemu_plugin_id_t;
struct qemu_info_t; /* only passed through, never read */
struct qemu_plugin_tb;

enum qemu_plugin_cb_flags {
	QEMU_PLUGIN_CB_NO_REGS = 0,
};

typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void *userdata);

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
uint64_t qemu_plugin_tb_vaddr(const struct qemu_plugin_tb *tb);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
void qemu_plugin_register_vcpu_tb_exec_cb(struct qemu_plugin_tb *tb, qemu_plugin_vcpu_udata_cb_t cb,
					  enum qemu_plugin_cb_flags flags, void *userdata);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb, void *userdata);
void qemu_plugin_outs(const char *string);

TBPROF_EXPORT int qemu_plugin_version = TBPROF_API_VERSION;

/* --- state ------------------------------------------------------------------- */

#define KERNEL_HALF 0xffff800000000000ULL

static char *out_prefix;
static uint64_t mark_addr;
static size_t nslots = 524288;

/* Counters: counts[i] is the instructions executed in blocks at slot_addr[i]. */
static uint64_t *counts;
static uint64_t *slot_addr;
static size_t used_slots;
static uint64_t refused; /* blocks left uncounted because every slot was taken */

/* Address -> slot: open addressing, twice as many buckets as slots; 0 = empty
 * (address 0 is never in the kernel half). */
static uint64_t *hash_key;
static uint32_t *hash_slot;
static size_t hash_mask;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static unsigned int dumps;

static size_t hash_of(uint64_t a)
{
	a ^= a >> 33;
	a *= 0xff51afd7ed558ccdULL;
	a ^= a >> 33;
	return (size_t)a & hash_mask;
}

/* The slot of kernel address a, taken on first sight; -1 when all are used.
 * Called with lock held. */
static long slot_of(uint64_t a)
{
	size_t h = hash_of(a);

	while (hash_key[h] != 0) {
		if (hash_key[h] == a)
			return hash_slot[h];
		h = (h + 1) & hash_mask;
	}
	if (used_slots == nslots)
		return -1;
	hash_key[h] = a;
	hash_slot[h] = (uint32_t)used_slots;
	slot_addr[used_slots] = a;
	return (long)used_slots++;
}

/* --- dumping ---------------------------------------------------------------- */

/* Writes OUT.N with the counters, then zeroes them. The guest runs it from
 * the marker block, so with icount (one thread for all vCPUs) no counter
 * moves meanwhile; with MTTCG another vCPU may add a few instructions while
 * it runs, which only blurs the window's edge. */
static void dump_and_reset(void)
{
	uint64_t total = 0;
	char path[4096];
	FILE *f;

	pthread_mutex_lock(&lock);
	snprintf(path, sizeof(path), "%s.%u", out_prefix, dumps++);
	f = fopen(path, "w");
	if (!f) {
		char msg[4200];

		snprintf(msg, sizeof(msg), "tbprof: cannot write %s\n", path);
		qemu_plugin_outs(msg);
	} else {
		fprintf(f, "# tbprof dump %u: %zu kernel block addresses, %" PRIu64 " refused\n", dumps - 1,
			used_slots, refused);
	}
	for (size_t i = 0; i < used_slots; i++) {
		uint64_t sum = __atomic_exchange_n(&counts[i], 0, __ATOMIC_RELAXED);

		if (sum && f)
			fprintf(f, "%" PRIx64 " %" PRIu64 "\n", slot_addr[i], sum);
		total += sum;
	}
	if (f) {
		fprintf(f, "# total %" PRIu64 "\n", total);
		fclose(f);
	}
	pthread_mutex_unlock(&lock);
}

static void on_mark(unsigned int vcpu_index, void *userdata)
{
	(void)vcpu_index;
	(void)userdata;
	dump_and_reset();
}

/* --- translation and execution ----------------------------------------------------- */

/* A block's callback data: its slot above, its instruction count (at most
 * 512 on x86) in the low 16 bits. */
#define N_BITS 16

static void on_exec(unsigned int vcpu_index, void *userdata)
{
	uintptr_t u = (uintptr_t)userdata;

	(void)vcpu_index;
	__atomic_fetch_add(&counts[u >> N_BITS], u & ((1u << N_BITS) - 1), __ATOMIC_RELAXED);
}

static void on_tb_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
	uint64_t pc = qemu_plugin_tb_vaddr(tb);
	size_t n = qemu_plugin_tb_n_insns(tb);
	long slot;

	(void)id;
	if (pc == mark_addr) {
		qemu_plugin_register_vcpu_tb_exec_cb(tb, on_mark, QEMU_PLUGIN_CB_NO_REGS, NULL);
		return;
	}
	if (pc < KERNEL_HALF)
		return;
	pthread_mutex_lock(&lock);
	slot = slot_of(pc);
	if (slot < 0)
		refused++;
	pthread_mutex_unlock(&lock);
	if (slot < 0 || n >= (1u << N_BITS))
		return;
	qemu_plugin_register_vcpu_tb_exec_cb(tb, on_exec, QEMU_PLUGIN_CB_NO_REGS,
					     (void *)(((uintptr_t)slot << N_BITS) | n));
}

static void on_qemu_exit(qemu_plugin_id_t id, void *userdata)
{
	char msg[256];

	(void)id;
	(void)userdata;
	snprintf(msg, sizeof(msg), "tbprof: %u dumps, %zu kernel block addresses, %" PRIu64 " refused\n",
		 dumps, used_slots, refused);
	qemu_plugin_outs(msg);
}

TBPROF_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const struct qemu_info_t *info, int argc, char **argv)
{
	size_t buckets = 1;

	(void)info;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];

		if (!strncmp(a, "out=", 4)) {
			out_prefix = strdup(a + 4);
		} else if (!strncmp(a, "mark=", 5)) {
			mark_addr = strtoull(a + 5, NULL, 16);
		} else if (!strncmp(a, "slots=", 6)) {
			nslots = strtoull(a + 6, NULL, 0);
		} else {
			fprintf(stderr, "tbprof: unknown argument '%s' (known: out=PREFIX mark=HEXADDR slots=N)\n", a);
			return -1;
		}
	}
	if (!out_prefix || !mark_addr || nslots == 0 || nslots > (1u << 24)) {
		fprintf(stderr, "tbprof: needs out=PREFIX and mark=HEXADDR (and slots=N between 1 and 2^24)\n");
		return -1;
	}
	while (buckets < 2 * nslots)
		buckets <<= 1;
	hash_mask = buckets - 1;
	hash_key = calloc(buckets, sizeof(*hash_key));
	hash_slot = calloc(buckets, sizeof(*hash_slot));
	slot_addr = calloc(nslots, sizeof(*slot_addr));
	counts = calloc(nslots, sizeof(*counts));
	if (!hash_key || !hash_slot || !slot_addr || !counts) {
		fprintf(stderr, "tbprof: out of memory for %zu slots\n", nslots);
		return -1;
	}
	qemu_plugin_register_vcpu_tb_trans_cb(id, on_tb_trans);
	qemu_plugin_register_atexit_cb(id, on_qemu_exit, NULL);
	return 0;
}

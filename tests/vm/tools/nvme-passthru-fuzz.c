// SPDX-License-Identifier: GPL-2.0
/*
 * Sends N random NVMe passthrough ioctls to one node (a disk, a partition or a controller char
 * device) and counts how they ended, for the VM test tests/vm/t-passthru-fuzz.sh. Built
 * statically on the host and copied into the guest. The sequence of calls depends only on the
 * seed and the options, never on earlier results: the same seed replays the same calls, and
 * --skip/--count cut out any single one.
 *
 * usage: nvme-passthru-fuzz [options] NODE
 *   -n, --count N   ioctls to send (default 1000)
 *   -s, --seed S    seed of the sequence (default 1)
 *   --skip K        draw calls #0..#K-1 without sending them (with -n 1: replay call #K alone)
 *   --rdonly        open NODE O_RDONLY (default O_RDWR)
 *   --unpriv        after opening, drop to uid/gid 1000 with no supplementary groups and no
 *                   capabilities (checked in /proc/self/status); every call is sent, none is
 *                   skipped: each must be refused or harmless
 *   --safe-root     as root, leave out what would destroy data outside NODE's namespace or
 *                   break the controller for the rest of the VM (list below); required when
 *                   running as root without --unpriv (or --unsafe-root to send everything)
 *   --width W       32, 64 or both (default): which passthrough structure to use, the 72-byte
 *                   struct nvme_passthru_cmd (ADMIN_CMD, IO_CMD) or the 80-byte
 *                   struct nvme_passthru_cmd64 (ADMIN64_CMD, IO64_CMD, IO64_CMD_VEC)
 *   --nsid N        the node's namespace id (default: NVME_IOCTL_ID on NODE, else 1)
 *   --avoid-io-op OP  never draw I/O opcode OP (may be given up to 8 times): for emulator bugs
 *                   that a command can trigger whatever the driver does (see below)
 *   --max-map-len B draw but do not send ("unsent") the calls that would have the kernel map a
 *                   data or metadata buffer of more than B bytes: for Linux 7.3's C driver,
 *                   where one such call can take all memory (see below)
 *   -v              print every call before sending it
 *
 * What is random, per call:
 *   the ioctl: NVME_IOCTL_ADMIN_CMD (0x41) / ADMIN64_CMD (0x47), IO_CMD (0x43) / IO64_CMD
 *     (0x48), IO64_CMD_VEC (0x49, data_len is an iovec count), SUBMIT_IO (0x42,
 *     struct nvme_user_io), NVME_IOCTL_ID (0x40), and other 'N' numbers: the no-argument
 *     RESET (0x44), SUBSYS_RESET (0x45), RESCAN (0x46), and random direction/size/number;
 *   the command structure's own address: mostly valid, sometimes NULL, unmapped, straddling
 *     a guard page, or read-only (the result write-back then fails after the command ran);
 *   opcode (half from a list of real opcodes of the queue kind, half any byte), nsid (the
 *     node's own, other small ids, 0, 0xffffffff, random), flags, rsvd1, cdw2..cdw15 (for
 *     Read/Write/Compare/Verify/Write Zeroes often an in-range LBA and a small block count),
 *     timeout_ms (0, or 1..20 ms);
 *   data_len and metadata_len: 0, small, odd, 512, page sized and +-1, 64K and 64K+1, 512K,
 *     2M and 2M+1, 0x80000000, 0xffffffff, random;
 *   data and metadata addresses: NULL, a valid page-aligned buffer, an unaligned one, one that
 *     ends at a PROT_NONE guard page before data_len bytes (buffer smaller than data_len),
 *     a PROT_NONE mapping, an unmapped hole, a read-only mapping, a kernel address, a
 *     non-canonical address, a low address below mmap_min_addr, random.
 * The tool only hands addresses to the kernel, never dereferences a bad one itself, so it
 * cannot crash on them (the kernel answers EFAULT).
 *
 * --safe-root leaves out (re-draws) these admin opcodes, which would destroy data on other
 * namespaces, change what the driver manages or break the controller for the rest of the VM:
 *   0x00 Delete I/O SQ, 0x01 Create I/O SQ, 0x04 Delete I/O CQ, 0x05 Create I/O CQ (the
 *     driver's queues), 0x08 Abort (could abort the driver's own commands), 0x09 Set Features
 *     (queue count, power state, interrupt coalescing, arbitration...), 0x0c Asynchronous
 *     Event Request (never completes until an event: the call would hang), 0x0d Namespace
 *     Management, 0x10 Firmware Commit, 0x11 Firmware Image Download, 0x14 Device Self-test,
 *     0x15 Namespace Attachment, 0x18 Keep Alive, 0x1c Virtualization Management,
 *     0x7c Doorbell Buffer Config (moves the doorbells under the driver), 0x80 Format NVM,
 *     0x84 Sanitize;
 *   and, though QEMU implements none of them, these, which on a real controller would reset,
 *     reshape, lock or erase it: 0x1d NVMe-MI Send (has a Reset), 0x20 Capacity Management,
 *     0x24 Command and Feature Lockdown, 0x41 Migration Send, 0x81 Security Send (a TCG Opal
 *     Revert erases the device);
 *   the ioctls NVME_IOCTL_RESET and NVME_IOCTL_SUBSYS_RESET (and a random 'N' number equal to
 *     any passthrough or reset number, whose argument would be an unplanned command).
 * Vendor specific admin opcodes (0xc0..0xff) are sent: QEMU rejects them; on real hardware
 * they could do anything, so do not point --safe-root at a real device. I/O commands are all
 * sent, whatever their nsid: a driver must refuse an nsid other than the disk node's (the C
 * driver answers EINVAL), and on a controller char device I/O commands are refused or, on a
 * controller with one namespace, go to that namespace.
 *
 * --avoid-io-op 0x19 is for QEMU 10.0.2's NVMe controller: a Copy whose first source range is
 * invalid (out of range, say, or read from wherever a missing data pointer points) ends in
 * nvme_copy_done(), which accounts the read and write of the copy as failed although they were
 * never started; the accounting cookies are uninitialised memory of a reused AIOCB, and now
 * and then QEMU aborts on "block_account_one_io: Assertion `cookie->type < BLOCK_MAX_IOTYPE'
 * failed". Copy is open to unprivileged users with a writable open on both drivers, so any
 * user who may write to a disk can kill this emulator.
 *
 * --max-map-len exists for the C driver of Linux 7.3.4: one NVME_IOCTL_IO_CMD (Dataset
 * Management, data_len 0xffffffff at an odd address) from uid 1000 with the disk open for
 * reading and writing took all of the 1 GiB guest's free memory (860 MB) in one call, and the
 * OOM killer killed the caller; as root the same. An odd length or address sends the buffer
 * through blk_rq_map_user_iov()'s bounce copy, which allocates pages for the length before
 * anything checks it against the queue's limits (bio_copy_user_iov() bounds the bio's bvecs,
 * and physically consecutive pages merge into one bvec, so the loop goes on).
 *
 * Output: one line, "sent=N refused=N nvme_error=N ok=N" (refused: the ioctl returned -1;
 * nvme_error: a passthrough returned a positive NVMe status; ok: it returned 0, or anything
 * not negative for NVME_IOCTL_ID and the other 'N' numbers), with --max-map-len " unsent=N",
 * then the count of each errno ("EINVAL=N ..."); and a second line "reached: admin=OP,...
 * io=OP,..." with the opcodes of which at least one ADMIN or IO command reached the controller
 * (the ioctl returned >= 0), to compare what two drivers let through.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include "nvme-uapi.h"

#define PAGE 4096UL
/* The data pool: room for a 2 MiB + 1 transfer at any page offset, then a guard page. */
#define POOL_SIZE (4UL << 20)
/* Blocks of the namespaces the test uses (64 MiB of 512-byte blocks), for in-range LBAs. */
#define NS_BLOCKS (64UL << 11)

/* Admin opcodes --safe-root never sends (see the header). */
static const uint8_t unsafe_admin[] = {
	0x00, 0x01, 0x04, 0x05, 0x08, 0x09, 0x0c, 0x0d, 0x10, 0x11, 0x14, 0x15,
	0x18, 0x1c, 0x7c, 0x80, 0x84, 0x1d, 0x20, 0x24, 0x41, 0x81,
};
/* Real admin opcodes, drawn half the time (the unsafe ones are re-drawn under --safe-root). */
static const uint8_t admin_ops[] = {
	0x00, 0x01, 0x02, 0x04, 0x05, 0x06, 0x08, 0x09, 0x0a, 0x0c, 0x0d, 0x10, 0x11, 0x14,
	0x15, 0x18, 0x19, 0x1a, 0x1c, 0x1d, 0x1e, 0x20, 0x24, 0x7c, 0x7f, 0x80, 0x81, 0x82,
	0x84, 0x86, 0xc0, 0xc1, 0xff,
};
/* I/O opcodes of the NVM and zoned command sets, the fabrics one and a few vendor specific. */
static const uint8_t io_ops[] = {
	0x00, 0x01, 0x02, 0x04, 0x05, 0x08, 0x09, 0x0c, 0x0d, 0x0e, 0x11, 0x15, 0x18,
	0x19, 0x79, 0x7a, 0x7d, 0x7f, 0x80, 0x81, 0x82, 0xff,
};

/* --- the random sequence ----------------------------------------------------------------- */

static uint64_t rng_state;

/* splitmix64: every seed, 0 included, gives a good sequence. */
static uint64_t rnd64(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint32_t rnd32(void)
{
	return (uint32_t)(rnd64() >> 32);
}

/* A number in [0, n). */
static uint32_t below(uint32_t n)
{
	return (uint32_t)(((uint64_t)rnd32() * n) >> 32);
}

/* True with probability pct percent. */
static int chance(unsigned int pct)
{
	return below(100) < pct;
}

/* --- memory the calls point at ----------------------------------------------------------- */

static uint8_t *pool;      /* POOL_SIZE bytes read-write, then a PROT_NONE guard page */
static uint8_t *noaccess;  /* 64 KiB PROT_NONE */
static uint8_t *hole;      /* 64 KiB that were unmapped again */
static uint8_t *rdonly;    /* POOL_SIZE bytes read-only */
static uint8_t *cmdpage;   /* one read-write page for the command structure, then a guard */
static uint8_t *cmdro;     /* one page for a command structure made read-only for the call */
static struct iovec *iovs; /* a page of iovecs for IO64_CMD_VEC */

static void *map(size_t len, int prot)
{
	void *p = mmap(NULL, len, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		perror("mmap");
		exit(2);
	}
	return p;
}

static void setup_memory(void)
{
	size_t i;

	pool = map(POOL_SIZE + PAGE, PROT_READ | PROT_WRITE);
	if (mprotect(pool + POOL_SIZE, PAGE, PROT_NONE)) {
		perror("mprotect");
		exit(2);
	}
	/* Random data to write, from the seed. */
	for (i = 0; i < POOL_SIZE; i += 8) {
		uint64_t v = rnd64();

		memcpy(pool + i, &v, 8);
	}
	noaccess = map(64 << 10, PROT_NONE);
	hole = map(64 << 10, PROT_NONE);
	munmap(hole, 64 << 10);
	rdonly = map(POOL_SIZE, PROT_READ | PROT_WRITE);
	memset(rdonly, 0x5a, POOL_SIZE);
	mprotect(rdonly, POOL_SIZE, PROT_READ);
	cmdpage = map(2 * PAGE, PROT_READ | PROT_WRITE);
	mprotect(cmdpage + PAGE, PAGE, PROT_NONE);
	cmdro = map(PAGE, PROT_READ | PROT_WRITE);
	iovs = map(PAGE, PROT_READ | PROT_WRITE);
}

enum addr_kind {
	A_NULL, A_VALID, A_UNALIGNED, A_SHORT, A_NOACCESS, A_HOLE, A_RDONLY, A_KERNEL,
	A_NONCANON, A_LOW, A_RANDOM, A_KINDS
};
static const char *const addr_names[A_KINDS] = {
	"null", "valid", "unaligned", "short", "noaccess", "hole", "rdonly", "kernel",
	"noncanon", "low", "random",
};

/* A user address of the given kind for a buffer of len bytes. */
static uint64_t addr_of(enum addr_kind k, uint32_t len)
{
	uint64_t off;

	switch (k) {
	case A_NULL:
		return 0;
	case A_VALID:
		return (uintptr_t)pool;
	case A_UNALIGNED:
		/* Odd, or 4-byte aligned (the C driver maps 4-byte aligned user memory directly). */
		off = chance(50) ? 1 + 2 * below(PAGE / 2 - 1) : 4 * (1 + below(PAGE / 4 - 1));
		return (uintptr_t)pool + off;
	case A_SHORT:
		/* Ends at the guard page with fewer than len bytes mapped. */
		off = len > 1 ? 1 + below(len - 1) : 0;
		if (off > POOL_SIZE)
			off = POOL_SIZE;
		return (uintptr_t)pool + POOL_SIZE - off;
	case A_NOACCESS:
		return (uintptr_t)noaccess + below(64 << 10);
	case A_HOLE:
		return (uintptr_t)hole + below(64 << 10);
	case A_RDONLY:
		return (uintptr_t)rdonly + (chance(50) ? 0 : below(PAGE));
	case A_KERNEL:
		return 0xffff888000000000ULL + ((uint64_t)below(1 << 18) << 12);
	case A_NONCANON:
		return chance(50) ? 0x0000800000000000ULL : 0x8000000000000000ULL + rnd32();
	case A_LOW:
		return 1 + below(0xffff);
	default:
		return rnd64();
	}
}

/* Mostly valid buffers; every kind often enough. */
static enum addr_kind pick_addr_kind(void)
{
	static const uint8_t weights[A_KINDS] = { 6, 55, 12, 8, 3, 3, 4, 2, 2, 2, 3 };
	unsigned int r = below(100), k;

	for (k = 0; k < A_KINDS - 1; k++) {
		if (r < weights[k])
			return k;
		r -= weights[k];
	}
	return A_RANDOM;
}

static uint32_t pick_len(void)
{
	static const uint32_t lens[] = {
		0, 0, 0, 1, 4, 16, 64, 511, 512, 513, 4095, 4096, 4096, 4097, 8192, 12288,
		65535, 65536, 65537, 131072, 524288, 524289, 2 << 20, (2 << 20) + 1,
		0x80000000u, 0xffffffffu,
	};

	switch (below(10)) {
	case 0:
		return 1 + below(64);           /* small */
	case 1:
		return 1 + 2 * below(4096);     /* odd */
	case 2:
		return below(256 << 10);        /* anything up to 256 KiB */
	case 3:
		return chance(20) ? rnd32() : 512 * (1 + below(128)); /* random, or whole blocks */
	default:
		return lens[below(sizeof(lens) / sizeof(lens[0]))];
	}
}

static uint32_t pick_meta_len(void)
{
	static const uint32_t lens[] = { 1, 4, 8, 16, 64, 512, 4096, 65537, 0xffffffffu };

	if (chance(90))
		return 0;
	return chance(15) ? rnd32() : lens[below(sizeof(lens) / sizeof(lens[0]))];
}

/* --- one call ---------------------------------------------------------------------------- */

enum kind { K_ADMIN, K_IO, K_VEC, K_SUBMIT, K_ID, K_OTHER };
static const char *const kind_names[] = { "admin", "io", "io-vec", "submit-io", "id", "other" };

struct call {
	enum kind kind;
	int wide;               /* struct nvme_passthru_cmd64 */
	unsigned long nr;       /* the ioctl number */
	union {
		struct passthru64 c64;
		struct passthru c;
		struct user_io uio;
		uint8_t raw[80];
	} u;
	size_t size;            /* bytes of u the call hands over */
	int where;              /* where the structure goes: see place() */
	unsigned int where_off; /* and at which offset, for where 2 and 3 */
	uint64_t arg;           /* for K_OTHER and bad structure addresses */
	enum addr_kind dkind, mkind;
};

struct options {
	int unpriv, safe_root, width, verbose;
	uint32_t nsid;
	uint64_t max_map_len;   /* 0: no limit */
	uint8_t avoid[8];       /* I/O opcodes never drawn */
	int navoid;
};

static int unsafe_admin_op(uint8_t op)
{
	size_t i;

	for (i = 0; i < sizeof(unsafe_admin); i++)
		if (unsafe_admin[i] == op)
			return 1;
	return 0;
}

static int avoided_io_op(const struct options *o, uint8_t op)
{
	int i;

	for (i = 0; i < o->navoid; i++)
		if (o->avoid[i] == op)
			return 1;
	return 0;
}

static uint32_t pick_nsid(uint32_t own)
{
	switch (below(20)) {
	case 0:
		return 0;
	case 1:
		return 0xffffffff;
	case 2:
		return rnd32();
	case 3: case 4: case 5:
		return 1 + below(4);   /* other small ids, the neighbour namespace among them */
	default:
		return own;
	}
}

/* Fills the command dwords of a passthrough command, plausible half the time. */
static void pick_dwords(struct passthru64 *c, int admin)
{
	uint32_t cdw[6];
	int i;

	for (i = 0; i < 6; i++)
		cdw[i] = chance(40) ? 0 : chance(50) ? below(256) : rnd32();
	c->cdw10 = cdw[0], c->cdw11 = cdw[1], c->cdw12 = cdw[2];
	c->cdw13 = cdw[3], c->cdw14 = cdw[4], c->cdw15 = cdw[5];
	if (chance(50))
		return;
	if (admin) {
		switch (c->opcode) {
		case 0x06: /* Identify: CNS, CNTID */
			c->cdw10 = below(0x20) | (chance(80) ? 0 : rnd32() & 0xffff0000);
			break;
		case 0x02: /* Get Log Page: LID, NUMDL */
			c->cdw10 = below(0x100) | ((chance(70) ? below(1024) : rnd32() & 0xffff) << 16);
			break;
		case 0x0a: /* Get Features: FID, SEL */
			c->cdw10 = below(0x20) | (below(4) << 8);
			break;
		}
		return;
	}
	switch (c->opcode) {
	case 0x01: case 0x02: case 0x04: case 0x05: case 0x08: case 0x0c:
		/* SLBA mostly in range, NLB small. */
		c->cdw10 = chance(80) ? below(NS_BLOCKS) : rnd32();
		c->cdw11 = chance(90) ? 0 : rnd32();
		c->cdw12 = chance(80) ? below(16) : chance(50) ? below(1024) : rnd32();
		break;
	case 0x09: /* Dataset Management: ranges, attributes */
		c->cdw10 = below(4);
		c->cdw11 = 1 << below(3);
		break;
	}
}

/* Draws the next call. The draws never depend on earlier results. */
static void draw(struct call *k, const struct options *o)
{
	struct passthru64 *c = &k->u.c64;
	unsigned int r = below(100);

	memset(k, 0, sizeof(*k));
	if (r < 45)
		k->kind = K_ADMIN;
	else if (r < 80)
		k->kind = K_IO;
	else if (r < 84)
		k->kind = K_VEC;
	else if (r < 92)
		k->kind = K_SUBMIT;
	else if (r < 94)
		k->kind = K_ID;
	else
		k->kind = K_OTHER;
	k->wide = o->width == 64 || (o->width == 0 && chance(50));
	if (k->kind == K_VEC)
		k->wide = 1; /* it only exists in the wide form */
	if (k->kind == K_VEC && o->width == 32)
		k->kind = K_IO;

	/* Where the structure goes: 0 normal, 1 NULL, 2 no access, 3 across the guard page,
	 * 4 read-only (the kernel reads it, the result write-back fails). */
	r = below(100);
	k->where = r < 94 ? 0 : r < 95 ? 1 : r < 96 ? 2 : r < 98 ? 3 : 4;
	k->where_off = below(1024);

	switch (k->kind) {
	case K_ADMIN:
	case K_IO:
	case K_VEC: {
		int admin = k->kind == K_ADMIN;

		do {
			if (chance(50))
				c->opcode = admin ? admin_ops[below(sizeof(admin_ops))]
						  : io_ops[below(sizeof(io_ops))];
			else
				c->opcode = below(256);
		} while (admin ? o->safe_root && unsafe_admin_op(c->opcode)
			       : avoided_io_op(o, c->opcode));
		c->flags = chance(95) ? 0 : below(256);
		c->rsvd1 = chance(95) ? 0 : below(65536);
		c->nsid = pick_nsid(o->nsid);
		c->cdw2 = chance(80) ? 0 : rnd32();
		c->cdw3 = chance(80) ? 0 : rnd32();
		pick_dwords(c, admin);
		c->timeout_ms = chance(80) ? 0 : 1 + below(20);
		k->dkind = pick_addr_kind();
		k->mkind = pick_addr_kind();
		if (k->kind == K_VEC) {
			/* data_len is the iovec count; each iovec one of the buffer kinds. */
			uint32_t n = chance(10) ? rnd32() : below(9), i;

			for (i = 0; i < PAGE / sizeof(struct iovec) && i < n; i++) {
				uint32_t len = pick_len();

				iovs[i].iov_base = (void *)(uintptr_t)addr_of(pick_addr_kind(), len);
				iovs[i].iov_len = len;
			}
			c->data_len = n;
			if (chance(85))
				c->addr = (uintptr_t)iovs, k->dkind = A_VALID;
			else
				c->addr = addr_of(k->dkind, n * 16);
		} else {
			c->data_len = pick_len();
			/* Often the length the command transfers: Read, Write, Compare of a few
			 * blocks, Identify. */
			if (chance(30) && !admin && c->opcode <= 0x05 && (c->opcode & 3) &&
			    c->cdw12 < 256)
				c->data_len = (c->cdw12 + 1) * 512;
			if (chance(30) && admin && c->opcode == 0x06)
				c->data_len = 4096;
			c->addr = addr_of(k->dkind, c->data_len);
		}
		c->metadata_len = pick_meta_len();
		c->metadata = c->metadata_len || chance(5) ? addr_of(k->mkind, c->metadata_len) : 0;
		if (k->kind == K_VEC) {
			k->nr = IOCTL_IO64_VEC;
		} else if (k->wide) {
			k->nr = admin ? IOCTL_ADMIN64 : IOCTL_IO64;
		} else {
			/* The narrow structure: the same fields, the result a dword. */
			struct passthru n;

			memcpy(&n, c, offsetof(struct passthru, timeout_ms));
			n.timeout_ms = c->timeout_ms;
			n.result = 0;
			memset(&k->u, 0, sizeof(k->u));
			k->u.c = n;
			k->nr = admin ? IOCTL_ADMIN : IOCTL_IO;
		}
		k->size = k->wide ? sizeof(struct passthru64) : sizeof(struct passthru);
		break;
	}
	case K_SUBMIT: {
		struct user_io *u = &k->u.uio;
		static const uint8_t ops[] = { 0x01, 0x02, 0x05 };

		do
			u->opcode = chance(70) ? ops[below(3)] : below(256);
		while (avoided_io_op(o, u->opcode));
		u->flags = chance(90) ? 0 : below(256);
		u->control = chance(80) ? 0 : below(65536);
		u->nblocks = chance(80) ? below(16) : below(65536);
		u->rsvd = chance(95) ? 0 : below(65536);
		k->dkind = pick_addr_kind();
		k->mkind = pick_addr_kind();
		u->addr = addr_of(k->dkind, (u->nblocks + 1u) * 512);
		u->metadata = chance(80) ? 0 : addr_of(k->mkind, (u->nblocks + 1u) * 8);
		u->slba = chance(80) ? below(NS_BLOCKS) : rnd64();
		u->dsmgmt = chance(80) ? 0 : rnd32();
		u->reftag = chance(80) ? 0 : rnd32();
		k->nr = IOCTL_SUBMIT_IO;
		k->size = sizeof(*u);
		break;
	}
	case K_ID:
		k->nr = IOCTL_ID;
		k->where = 0;
		k->arg = chance(50) ? 0 : rnd64();
		break;
	case K_OTHER:
		k->where = 0;
		k->arg = chance(20) ? 0 : chance(50) ? (uintptr_t)pool : addr_of(pick_addr_kind(), 80);
		for (;;) {
			if (chance(40)) {
				static const unsigned long plain[] = {
					IOCTL_RESET, IOCTL_SUBSYS_RESET, IOCTL_RESCAN, IOCTL_ID,
				};

				k->nr = plain[below(4)];
			} else {
				/* Random direction, size and number in 'N' (0x40..0x8f), or anything
				 * (not under --safe-root: it could be a block layer ioctl). */
				k->nr = chance(80) || o->safe_root
						? _IOC(below(4), 'N', 0x40 + below(0x50), below(256))
						: rnd32();
			}
			if (!o->safe_root)
				break;
			/* Under --safe-root no reset, and no passthrough with an unplanned command. */
			if (k->nr == IOCTL_RESET || k->nr == IOCTL_SUBSYS_RESET ||
			    k->nr == IOCTL_ADMIN || k->nr == IOCTL_ADMIN64 || k->nr == IOCTL_IO ||
			    k->nr == IOCTL_IO64 || k->nr == IOCTL_IO64_VEC ||
			    k->nr == IOCTL_SUBMIT_IO)
				continue;
			break;
		}
		break;
	}
}

/* The largest buffer the kernel may be asked to map for the call: data or metadata length,
 * the sum of the iovecs for IO64_CMD_VEC (UINT64_MAX when the iovecs are not ours), the block
 * count's bytes for SUBMIT_IO. Structure contents as drawn (a NULL or unmapped structure is
 * never read, but it costs nothing to judge it as if it were). */
static uint64_t map_len(const struct call *k)
{
	const struct passthru64 *c = &k->u.c64;
	uint64_t len = 0;
	uint32_t i;

	switch (k->kind) {
	case K_ADMIN:
	case K_IO:
		/* The narrow structure has the same layout up to timeout_ms. */
		return c->data_len > c->metadata_len ? c->data_len : c->metadata_len;
	case K_VEC:
		if (c->addr != (uintptr_t)iovs)
			return c->data_len ? UINT64_MAX : c->metadata_len;
		for (i = 0; i < c->data_len && i < PAGE / sizeof(struct iovec); i++)
			len += iovs[i].iov_len;
		if (c->data_len > PAGE / sizeof(struct iovec))
			len = UINT64_MAX;
		return len > c->metadata_len ? len : c->metadata_len;
	case K_SUBMIT:
		return (k->u.uio.nblocks + 1ULL) * 512;
	default:
		return 0;
	}
}

/* Puts the structure where k->where says and returns the ioctl argument (draws nothing: the
 * sequence must not depend on which calls are sent). */
static uint64_t place(struct call *k)
{
	uint8_t *p;

	if (k->kind == K_ID || k->kind == K_OTHER)
		return k->arg;
	switch (k->where) {
	case 1:
		return 0;
	case 2:
		return (uintptr_t)noaccess + 8 * k->where_off;
	case 3:
		/* The first bytes mapped, the rest in the guard page. */
		p = cmdpage + PAGE - 8 * (1 + k->where_off % (k->size / 8 - 1));
		memcpy(p, k->u.raw, (size_t)(cmdpage + PAGE - p));
		return (uintptr_t)p;
	case 4:
		mprotect(cmdro, PAGE, PROT_READ | PROT_WRITE);
		memcpy(cmdro, k->u.raw, k->size);
		mprotect(cmdro, PAGE, PROT_READ);
		return (uintptr_t)cmdro;
	default:
		memcpy(cmdpage, k->u.raw, k->size);
		return (uintptr_t)cmdpage;
	}
}

static void print_call(unsigned long i, const struct call *k, uint64_t arg)
{
	const struct passthru64 *c = &k->u.c64;

	printf("#%lu %s nr=%#lx arg=%#llx", i, kind_names[k->kind], k->nr,
	       (unsigned long long)arg);
	if (k->kind == K_ADMIN || k->kind == K_IO || k->kind == K_VEC) {
		/* The narrow structure has the same layout up to timeout_ms. */
		printf(" %s op=%#x flags=%#x nsid=%#x cdw10..15=%#x,%#x,%#x,%#x,%#x,%#x"
		       " data=%s:%#llx/%u meta=%s:%#llx/%u timeout=%u",
		       k->wide ? "w64" : "w32", c->opcode, c->flags, c->nsid, c->cdw10, c->cdw11,
		       c->cdw12, c->cdw13, c->cdw14, c->cdw15, addr_names[k->dkind],
		       (unsigned long long)c->addr, c->data_len, addr_names[k->mkind],
		       (unsigned long long)c->metadata, c->metadata_len, c->timeout_ms);
	} else if (k->kind == K_SUBMIT) {
		printf(" op=%#x nblocks=%u slba=%#llx addr=%s:%#llx", k->u.uio.opcode,
		       k->u.uio.nblocks, (unsigned long long)k->u.uio.slba,
		       addr_names[k->dkind], (unsigned long long)k->u.uio.addr);
	}
	printf(" where=%d\n", k->where);
	fflush(stdout);
}

/* --- privileges -------------------------------------------------------------------------- */

static void drop_privileges(void)
{
	char line[256];
	FILE *f;
	int clean = 0;

	if (setgroups(0, NULL) || setresgid(1000, 1000, 1000) || setresuid(1000, 1000, 1000)) {
		perror("dropping to uid/gid 1000");
		exit(2);
	}
	f = fopen("/proc/self/status", "r");
	if (!f) {
		perror("/proc/self/status");
		exit(2);
	}
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "CapEff:", 7) && strtoull(line + 7, NULL, 16) == 0)
			clean = 1;
	fclose(f);
	if (!clean || setuid(0) == 0) {
		fprintf(stderr, "still privileged after dropping to uid 1000\n");
		exit(2);
	}
}

static void usage(const char *me)
{
	fprintf(stderr,
		"usage: %s [-n COUNT] [-s SEED] [--skip K] [--rdonly] [--unpriv | --safe-root |\n"
		"       --unsafe-root] [--width 32|64|both] [--nsid N] [--max-map-len B]\n"
		"       [--avoid-io-op OP]... [-v] NODE\n"
		"(see the comment at the top of tests/vm/tools/nvme-passthru-fuzz.c)\n", me);
	exit(2);
}

int main(int argc, char **argv)
{
	static unsigned long errs[4096];
	static unsigned char reached[2][256];
	unsigned long count = 1000, skip = 0, i, sent = 0, refused = 0, nvme_error = 0, ok = 0;
	unsigned long unsent = 0;
	unsigned long long seed = 1;
	struct options o = { 0 };
	const char *node = NULL;
	int rdonly_open = 0, unsafe_root = 0, fd, a, e, q;
	long id;

	for (a = 1; a < argc; a++) {
		const char *s = argv[a];

		if ((!strcmp(s, "-n") || !strcmp(s, "--count")) && a + 1 < argc)
			count = strtoul(argv[++a], NULL, 0);
		else if ((!strcmp(s, "-s") || !strcmp(s, "--seed")) && a + 1 < argc)
			seed = strtoull(argv[++a], NULL, 0);
		else if (!strcmp(s, "--skip") && a + 1 < argc)
			skip = strtoul(argv[++a], NULL, 0);
		else if (!strcmp(s, "--rdonly"))
			rdonly_open = 1;
		else if (!strcmp(s, "--unpriv"))
			o.unpriv = 1;
		else if (!strcmp(s, "--safe-root"))
			o.safe_root = 1;
		else if (!strcmp(s, "--unsafe-root"))
			unsafe_root = 1;
		else if (!strcmp(s, "--width") && a + 1 < argc) {
			s = argv[++a];
			o.width = !strcmp(s, "32") ? 32 : !strcmp(s, "64") ? 64 : 0;
			if (!o.width && strcmp(s, "both"))
				usage(argv[0]);
		} else if (!strcmp(s, "--nsid") && a + 1 < argc)
			o.nsid = (uint32_t)strtoul(argv[++a], NULL, 0);
		else if (!strcmp(s, "--avoid-io-op") && a + 1 < argc && o.navoid < 8)
			o.avoid[o.navoid++] = (uint8_t)strtoul(argv[++a], NULL, 0);
		else if (!strcmp(s, "--max-map-len") && a + 1 < argc)
			o.max_map_len = strtoull(argv[++a], NULL, 0);
		else if (!strcmp(s, "-v"))
			o.verbose = 1;
		else if (s[0] == '-' || node)
			usage(argv[0]);
		else
			node = s;
	}
	if (!node)
		usage(argv[0]);
	if (o.unpriv && o.safe_root) {
		fprintf(stderr, "--unpriv sends everything; --safe-root is for root\n");
		return 2;
	}
	if (!o.unpriv && geteuid() == 0 && !o.safe_root && !unsafe_root) {
		fprintf(stderr, "running as root: pass --safe-root (or --unsafe-root to send every "
			"opcode, which may format namespaces or break the controller)\n");
		return 2;
	}
	rng_state = seed;
	setup_memory();
	fd = open(node, rdonly_open ? O_RDONLY : O_RDWR);
	if (fd < 0) {
		perror(node);
		return 2;
	}
	if (!o.nsid) {
		id = ioctl(fd, IOCTL_ID);
		o.nsid = id > 0 ? (uint32_t)id : 1;
	}
	if (o.unpriv)
		drop_privileges();

	for (i = 0; i < skip + count; i++) {
		struct call k;
		uint64_t arg;
		long ret;

		draw(&k, &o);
		if (i < skip)
			continue;
		if (o.max_map_len && map_len(&k) > o.max_map_len) {
			unsent++;
			continue;
		}
		arg = place(&k);
		if (o.verbose)
			print_call(i, &k, arg);
		ret = ioctl(fd, k.nr, (void *)(uintptr_t)arg);
		e = errno;
		sent++;
		if (ret < 0) {
			refused++;
			errs[e >= 0 && e < 4096 ? e : 0]++;
		} else {
			if (ret == 0 || k.kind == K_ID || k.kind == K_OTHER)
				ok++;
			else
				nvme_error++;
			if (k.kind == K_ADMIN || k.kind == K_IO)
				reached[k.kind == K_IO][k.u.c64.opcode] = 1;
		}
		if (o.verbose)
			printf("#%lu ret=%ld errno=%d\n", i, ret, ret < 0 ? e : 0);
	}

	printf("sent=%lu refused=%lu nvme_error=%lu ok=%lu", sent, refused, nvme_error, ok);
	if (o.max_map_len)
		printf(" unsent=%lu", unsent);
	for (e = 0; e < 4096; e++)
		if (errs[e])
			printf(" %s=%lu", e ? strerrorname_np(e) ?: "E?" : "errno0", errs[e]);
	printf("\nreached:");
	for (q = 0; q < 2; q++) {
		int first = 1;

		printf(" %s=", q ? "io" : "admin");
		for (e = 0; e < 256; e++)
			if (reached[q][e]) {
				printf("%s%02x", first ? "" : ",", e);
				first = 0;
			}
		if (first)
			printf("-");
	}
	printf("\n");
	return 0;
}

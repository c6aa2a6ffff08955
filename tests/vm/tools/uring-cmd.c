// SPDX-License-Identifier: GPL-2.0
/*
 * One NVMe read or write through io_uring passthrough (IORING_OP_URING_CMD with
 * NVME_URING_CMD_IO or NVME_URING_CMD_IO_VEC) on a namespace's generic char device, for
 * tests/vm/t-uring-cmd.sh. Raw system calls: the guest has no liburing.
 *
 * usage: uring-cmd [OPTIONS] DEV write|read SLBA NLB SEED
 *   write: NLB blocks from SLBA of a pattern made from SEED and the block numbers;
 *   read: reads them and compares them with that pattern.
 *   -b BS     logical block size (default 4096)
 *   -v SEGS   NVME_URING_CMD_IO_VEC, the buffer in SEGS iovecs (each its own allocation)
 *   -f        the buffer is registered with the ring (IORING_URING_CMD_FIXED); with -v the
 *             iovecs are pieces of it, in reverse order
 *   -p        the ring polls (IORING_SETUP_IOPOLL)
 *   -n NSID   the command's nsid (default: the node's, NVME_IOCTL_ID)
 *   -l LEN    the command's data_len (default: the buffer's length, or SEGS)
 *   -s        64-byte SQEs and 16-byte CQEs (the driver must refuse: EOPNOTSUPP)
 *   -r        open the node read-only
 *   -c N      N commands in a row on the same ring (each on the same blocks)
 *   -w FILE   once the node is open and the ring set up, wait until FILE exists
 *   -i        print the node's namespace id (NVME_IOCTL_ID, after -w) and exit
 * usage: uring-cmd -P [-b BS] SLBA NLB SEED
 *   prints the pattern of those blocks on stdout.
 * Prints "res=R res2=V" per command (R: 0, a positive NVMe status or a negative errno), and
 * "data ok" or "data mismatch" after a read that succeeded. Exits 0 when every command
 * completed with 0 (and every read matched), 1 otherwise, 2 on a usage or set-up error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "nvme-uapi.h"

#define URING_CMD_IO _IOWR('N', 0x80, struct passthru)
#define URING_CMD_IO_VEC _IOWR('N', 0x81, struct passthru)

static unsigned char pat(unsigned int seed, unsigned long long byte)
{
	return (unsigned char)(seed * 151 + (byte >> 9) * 29 + (byte & 511) * 7 + (byte >> 20));
}

static void die(const char *what)
{
	perror(what);
	exit(2);
}

int main(int argc, char **argv)
{
	unsigned int bs = 4096, segs = 0, seed, nlb, count = 1;
	int fixed = 0, poll = 0, small = 0, rdonly = 0, id = 0, opt, fd, ring, write, bad = 0;
	const char *wait_file = NULL;
	long long nsid = -1, data_len = -1;
	unsigned long long slba;
	struct io_uring_params p;
	struct iovec *iov;
	size_t len, sqe_size, cqe_size;

	if (argc > 1 && !strcmp(argv[1], "-P")) {
		if (argc == 7 && !strcmp(argv[2], "-b"))
			bs = strtoul(argv[3], NULL, 0), argv += 2, argc -= 2;
		if (argc != 5)
			return 2;
		slba = strtoull(argv[2], NULL, 0);
		nlb = strtoul(argv[3], NULL, 0);
		seed = strtoul(argv[4], NULL, 0);
		for (unsigned long long j = 0; j < (unsigned long long)nlb * bs; j++)
			putchar(pat(seed, slba * bs + j));
		return 0;
	}
	while ((opt = getopt(argc, argv, "b:v:fpn:l:src:w:i")) != -1) {
		switch (opt) {
		case 'b': bs = strtoul(optarg, NULL, 0); break;
		case 'v': segs = strtoul(optarg, NULL, 0); break;
		case 'f': fixed = 1; break;
		case 'p': poll = 1; break;
		case 'n': nsid = strtoll(optarg, NULL, 0); break;
		case 'l': data_len = strtoll(optarg, NULL, 0); break;
		case 's': small = 1; break;
		case 'r': rdonly = 1; break;
		case 'c': count = strtoul(optarg, NULL, 0); break;
		case 'w': wait_file = optarg; break;
		case 'i': id = 1; break;
		default: return 2;
		}
	}
	if (id && argc - optind == 1) {
		fd = open(argv[optind], O_RDONLY);
		if (fd < 0)
			die("open");
		while (wait_file && access(wait_file, F_OK))
			usleep(20000);
		long r = ioctl(fd, IOCTL_ID);

		if (r < 0) {
			printf("error: %s\n", strerror(errno));
			return 1;
		}
		printf("nsid=%ld\n", r);
		return 0;
	}
	if (argc - optind != 5) {
		fprintf(stderr, "usage: uring-cmd [-b BS] [-v SEGS] [-f] [-p] [-n NSID] [-l LEN] [-s] [-r] [-c N] DEV write|read SLBA NLB SEED\n");
		return 2;
	}
	write = !strcmp(argv[optind + 1], "write");
	slba = strtoull(argv[optind + 2], NULL, 0);
	nlb = strtoul(argv[optind + 3], NULL, 0);
	seed = strtoul(argv[optind + 4], NULL, 0);
	len = (size_t)nlb * bs;

	fd = open(argv[optind], rdonly ? O_RDONLY : O_RDWR);
	if (fd < 0)
		die("open");
	if (nsid < 0) {
		nsid = ioctl(fd, IOCTL_ID);
		if (nsid < 0)
			die("NVME_IOCTL_ID");
	}

	/*
	 * The buffer, in one piece or in SEGS pieces of whole blocks (the last takes the rest):
	 * each its own allocation, or with -f pieces of one registered buffer, in reverse order.
	 */
	unsigned int n = segs ? segs : 1;
	unsigned char *whole = NULL;

	iov = calloc(n, sizeof(*iov));
	if (fixed && posix_memalign((void **)&whole, 4096, len ? len : 4096))
		die("posix_memalign");
	for (unsigned int i = 0; i < n; i++) {
		size_t piece = segs ? (len / bs / n) * bs : len;
		size_t l = i == n - 1 ? len - (size_t)i * piece : piece;

		if (fixed)
			iov[i].iov_base = whole + (len - (size_t)i * piece - l);
		else if (posix_memalign(&iov[i].iov_base, 4096, l ? l : 4096))
			die("posix_memalign");
		iov[i].iov_len = l;
	}

	memset(&p, 0, sizeof(p));
	p.flags = (small ? 0 : IORING_SETUP_SQE128 | IORING_SETUP_CQE32) | (poll ? IORING_SETUP_IOPOLL : 0);
	ring = syscall(__NR_io_uring_setup, 4, &p);
	if (ring < 0)
		die("io_uring_setup");
	sqe_size = small ? 64 : 128;
	cqe_size = small ? 16 : 32;
	if (fixed) {
		struct iovec reg = { .iov_base = whole, .iov_len = len ? len : 4096 };

		if (syscall(__NR_io_uring_register, ring, IORING_REGISTER_BUFFERS, &reg, 1) < 0)
			die("IORING_REGISTER_BUFFERS");
	}

	unsigned char *sq = mmap(NULL, p.sq_off.array + p.sq_entries * 4, PROT_READ | PROT_WRITE,
				 MAP_SHARED | MAP_POPULATE, ring, IORING_OFF_SQ_RING);
	unsigned char *cq = mmap(NULL, p.cq_off.cqes + p.cq_entries * cqe_size, PROT_READ | PROT_WRITE,
				 MAP_SHARED | MAP_POPULATE, ring, IORING_OFF_CQ_RING);
	unsigned char *sqes = mmap(NULL, p.sq_entries * sqe_size, PROT_READ | PROT_WRITE,
				   MAP_SHARED | MAP_POPULATE, ring, IORING_OFF_SQES);
	if (sq == MAP_FAILED || cq == MAP_FAILED || sqes == MAP_FAILED)
		die("mmap");
	unsigned int *sq_tail = (unsigned int *)(sq + p.sq_off.tail);
	unsigned int *sq_array = (unsigned int *)(sq + p.sq_off.array);
	unsigned int *cq_head = (unsigned int *)(cq + p.cq_off.head);
	unsigned int *cq_tail = (unsigned int *)(cq + p.cq_off.tail);

	while (wait_file && access(wait_file, F_OK))
		usleep(20000);
	for (unsigned int k = 0; k < count; k++) {
		unsigned long long off = 0;

		for (unsigned int i = 0; i < n; i++) {
			unsigned char *b = iov[i].iov_base;

			for (size_t j = 0; j < iov[i].iov_len; j++)
				b[j] = write ? pat(seed, slba * bs + off + j) : 0xa5;
			off += iov[i].iov_len;
		}

		struct io_uring_sqe *sqe = (struct io_uring_sqe *)sqes;
		struct passthru *c;

		memset(sqe, 0, sqe_size);
		sqe->opcode = IORING_OP_URING_CMD;
		sqe->fd = fd;
		sqe->cmd_op = segs ? URING_CMD_IO_VEC : URING_CMD_IO;
		if (fixed) {
			sqe->uring_cmd_flags = IORING_URING_CMD_FIXED;
			sqe->buf_index = 0;
		}
		c = (struct passthru *)((unsigned char *)sqe + 48);
		if (!small) {
			c->opcode = write ? 0x01 : 0x02;
			c->nsid = (uint32_t)nsid;
			c->addr = segs ? (uint64_t)(uintptr_t)iov : (uint64_t)(uintptr_t)iov[0].iov_base;
			c->data_len = data_len >= 0 ? (uint32_t)data_len : segs ? segs : (uint32_t)len;
			c->cdw10 = (uint32_t)slba;
			c->cdw11 = (uint32_t)(slba >> 32);
			c->cdw12 = nlb - 1;
		}
		sq_array[*sq_tail & (p.sq_entries - 1)] = 0;
		__atomic_store_n(sq_tail, *sq_tail + 1, __ATOMIC_RELEASE);
		if (syscall(__NR_io_uring_enter, ring, 1, 1, IORING_ENTER_GETEVENTS, NULL, 0) < 0)
			die("io_uring_enter");
		while (__atomic_load_n(cq_tail, __ATOMIC_ACQUIRE) == *cq_head)
			if (syscall(__NR_io_uring_enter, ring, 0, 1, IORING_ENTER_GETEVENTS, NULL, 0) < 0)
				die("io_uring_enter (wait)");

		unsigned char *cqe = cq + p.cq_off.cqes + (*cq_head & (p.cq_entries - 1)) * cqe_size;
		int res = ((struct io_uring_cqe *)cqe)->res;
		unsigned long long res2 = small ? 0 : *(unsigned long long *)(cqe + 16);

		__atomic_store_n(cq_head, *cq_head + 1, __ATOMIC_RELEASE);
		printf("res=%d res2=%llu\n", res, res2);
		if (res != 0) {
			if (res < 0)
				printf("error: %s\n", strerror(-res));
			bad = 1;
			continue;
		}
		if (!write) {
			int ok = 1;

			off = 0;
			for (unsigned int i = 0; i < n && ok; i++) {
				unsigned char *b = iov[i].iov_base;

				for (size_t j = 0; j < iov[i].iov_len; j++) {
					if (b[j] != pat(seed, slba * bs + off + j)) {
						ok = 0;
						break;
					}
				}
				off += iov[i].iov_len;
			}
			printf("data %s\n", ok ? "ok" : "mismatch");
			bad |= !ok;
		}
	}
	return bad;
}

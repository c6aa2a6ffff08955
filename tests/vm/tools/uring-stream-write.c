// SPDX-License-Identifier: GPL-2.0
/*
 * Writes through io_uring into a write stream (the SQE's write_stream byte, Linux 6.16 and
 * later), for tests/vm/t-fdp.sh. Raw system calls: the guest has no liburing, and the host's
 * headers predate write streams.
 *
 * usage: uring-stream-write DEV STREAM OFFSET LEN
 *   writes LEN bytes (a multiple of 4096) at byte OFFSET of DEV, opened O_DIRECT, in write
 *   stream STREAM (0: none); the data is a pattern of STREAM and OFFSET, which
 *   "uring-stream-write --pattern STREAM OFFSET LEN" prints on stdout.
 * Prints "res=N" (the completion's result: LEN, or a negative errno); exits 0 when res == LEN.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/io_uring.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Byte offset of write_stream in struct io_uring_sqe (the union after personality). */
#define SQE_WRITE_STREAM 44

static void fill(unsigned char *buf, unsigned int stream, unsigned long long off, size_t len)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (unsigned char)((stream * 131) ^ ((off + i) >> 9) ^ (i * 7));
}

int main(int argc, char **argv)
{
	struct io_uring_params p;
	unsigned char *buf, *sq, *cq;
	struct io_uring_sqe *sqes;
	unsigned int stream, *tail, *array, *ctail, *chead, mask;
	unsigned long long off;
	size_t len;
	int ring, fd;

	if (argc == 5 && !strcmp(argv[1], "--pattern")) {
		stream = strtoul(argv[2], NULL, 0);
		off = strtoull(argv[3], NULL, 0);
		len = strtoull(argv[4], NULL, 0);
		buf = malloc(len);
		fill(buf, stream, off, len);
		return fwrite(buf, 1, len, stdout) == len ? 0 : 1;
	}
	if (argc != 5) {
		fprintf(stderr, "usage: %s DEV STREAM OFFSET LEN\n", argv[0]);
		return 2;
	}
	stream = strtoul(argv[2], NULL, 0);
	off = strtoull(argv[3], NULL, 0);
	len = strtoull(argv[4], NULL, 0);
	if (!len || len % 4096 || posix_memalign((void **)&buf, 4096, len))
		return 2;
	fill(buf, stream, off, len);
	fd = open(argv[1], O_WRONLY | O_DIRECT);
	if (fd < 0) {
		perror(argv[1]);
		return 1;
	}
	memset(&p, 0, sizeof(p));
	ring = syscall(__NR_io_uring_setup, 4, &p);
	if (ring < 0) {
		perror("io_uring_setup");
		return 1;
	}
	sq = mmap(NULL, p.sq_off.array + p.sq_entries * sizeof(unsigned int),
		  PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring, IORING_OFF_SQ_RING);
	cq = mmap(NULL, p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe),
		  PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring, IORING_OFF_CQ_RING);
	sqes = mmap(NULL, p.sq_entries * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_POPULATE, ring, IORING_OFF_SQES);
	if (sq == MAP_FAILED || cq == MAP_FAILED || sqes == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	memset(&sqes[0], 0, sizeof(sqes[0]));
	sqes[0].opcode = IORING_OP_WRITE;
	sqes[0].fd = fd;
	sqes[0].addr = (unsigned long)buf;
	sqes[0].len = len;
	sqes[0].off = off;
	((unsigned char *)&sqes[0])[SQE_WRITE_STREAM] = stream;
	tail = (unsigned int *)(sq + p.sq_off.tail);
	array = (unsigned int *)(sq + p.sq_off.array);
	mask = *(unsigned int *)(sq + p.sq_off.ring_mask);
	array[*tail & mask] = 0;
	__atomic_store_n(tail, *tail + 1, __ATOMIC_RELEASE);
	if (syscall(__NR_io_uring_enter, ring, 1, 1, IORING_ENTER_GETEVENTS, NULL, 0) < 0) {
		perror("io_uring_enter");
		return 1;
	}
	chead = (unsigned int *)(cq + p.cq_off.head);
	ctail = (unsigned int *)(cq + p.cq_off.tail);
	if (__atomic_load_n(ctail, __ATOMIC_ACQUIRE) == *chead) {
		fprintf(stderr, "no completion\n");
		return 1;
	}
	{
		struct io_uring_cqe *cqe = (struct io_uring_cqe *)(cq + p.cq_off.cqes) +
					   (*chead & *(unsigned int *)(cq + p.cq_off.ring_mask));
		printf("res=%d\n", cqe->res);
		return cqe->res == (int)len ? 0 : 1;
	}
}

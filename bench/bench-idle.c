// SPDX-License-Identifier: GPL-2.0
// bench-idle: idle spinners that count, for bench/bench.sh, which builds it static on the
// host and copies it into the benchmark guest as /usr/bin/bench-idle.
//
// "spin CPU" is a SCHED_IDLE loop pinned to CPU that counts its iterations in
// /tmp/bench-idle.CPU: it keeps that CPU from ever halting (with icount sleep=off an all-idle
// guest jumps its clock to the next timer, which turns a wait for the emulated device into
// milliseconds), and what it counted is the CPU's idle time. "mark TAG" appends
// "TAG <CLOCK_MONOTONIC ns> <loops of CPU 0> ..." to /tmp/bench-idle.log. fio runs "start" (a
// detached spinner on the job's CPU, then a mark) right before each job's I/O and "stop" (a
// mark, then the spinner ends) right after it, so fio's own start-up and exit, where the guest
// sleeps, still let icount skip the idle time.
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long ncpus(void)
{
	return sysconf(_SC_NPROCESSORS_CONF);
}

// spin CPU: SCHED_IDLE on CPU, counting loops in /tmp/bench-idle.CPU.
static int spin(int cpu)
{
	struct sched_param sp = { 0 };
	volatile uint64_t *n;
	char path[64];
	cpu_set_t set;
	int fd;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) || sched_setscheduler(0, SCHED_IDLE, &sp)) {
		perror("bench-idle: affinity or SCHED_IDLE");
		return 1;
	}
	snprintf(path, sizeof(path), "/tmp/bench-idle.%d", cpu);
	fd = open(path, O_RDWR | O_CREAT, 0644);
	if (fd < 0 || ftruncate(fd, 4096)) {
		perror(path);
		return 1;
	}
	n = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (n == MAP_FAILED) {
		perror("bench-idle: mmap");
		return 1;
	}
	for (;;)
		(*n)++;
}

// mark TAG: "TAG <CLOCK_MONOTONIC ns> <loops of CPU 0> ..." to /tmp/bench-idle.log.
static int mark(const char *tag)
{
	struct timespec ts;
	FILE *log;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	log = fopen("/tmp/bench-idle.log", "a");
	if (!log)
		return 1;
	fprintf(log, "%s %lld", tag, (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
	for (long c = 0; c < ncpus(); c++) {
		char path[64];
		uint64_t v = 0;
		int fd;

		snprintf(path, sizeof(path), "/tmp/bench-idle.%ld", c);
		fd = open(path, O_RDONLY);
		if (fd >= 0) {
			if (pread(fd, &v, sizeof(v), 0) != sizeof(v))
				v = 0;
			close(fd);
		}
		fprintf(log, " %llu", (unsigned long long)v);
	}
	fputc('\n', log);
	return fclose(log) != 0;
}

// The CPU this process may run on (the first of its affinity mask).
static int my_cpu(void)
{
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof(set), &set))
		return 0;
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &set))
			return c;
	return 0;
}

static void kill_spinner(long cpu)
{
	char path[64];
	FILE *f;
	int pid;

	snprintf(path, sizeof(path), "/tmp/bench-idle.pid.%ld", cpu);
	f = fopen(path, "r");
	if (!f)
		return;
	if (fscanf(f, "%d", &pid) == 1 && pid > 1)
		kill(pid, SIGKILL);
	fclose(f);
	unlink(path);
}

// start: a detached spinner on this process's CPU, then "mark preCPU".
// fio runs it as exec_prerun in the job process, after pinning the job.
static int start(void)
{
	int cpu = my_cpu();
	char tag[32];
	pid_t p;

	kill_spinner(cpu);
	p = fork();
	if (p == 0) {
		pid_t q;

		setsid();
		q = fork();
		if (q == 0) {
			int fd = open("/dev/null", O_RDWR);

			dup2(fd, 0);
			dup2(fd, 1);
			dup2(fd, 2);
			_exit(spin(cpu));
		} else if (q > 0) {
			char path[64];
			FILE *f;

			snprintf(path, sizeof(path), "/tmp/bench-idle.pid.%d", cpu);
			f = fopen(path, "w");
			if (f) {
				fprintf(f, "%d\n", q);
				fclose(f);
			}
		}
		_exit(q > 0 ? 0 : 1);
	}
	if (p > 0)
		waitpid(p, NULL, 0);
	snprintf(tag, sizeof(tag), "pre%d", cpu);
	return mark(tag);
}

// stop: "mark postCPU", then end this CPU's spinner (fio's exec_postrun).
static int stop(void)
{
	int cpu = my_cpu();
	char tag[32];
	int rc;

	snprintf(tag, sizeof(tag), "post%d", cpu);
	rc = mark(tag);
	kill_spinner(cpu);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "spin"))
		return spin(atoi(argv[2]));
	if (argc == 3 && !strcmp(argv[1], "mark"))
		return mark(argv[2]);
	if (argc == 2 && !strcmp(argv[1], "start"))
		return start();
	if (argc == 2 && !strcmp(argv[1], "stop"))
		return stop();
	if (argc == 2 && !strcmp(argv[1], "reap")) {
		for (long c = 0; c < ncpus(); c++)
			kill_spinner(c);
		return 0;
	}
	fprintf(stderr, "usage: bench-idle spin CPU | mark TAG | start | stop | reap\n");
	return 2;
}

// SPDX-License-Identifier: GPL-2.0
/*
 * tbmark: the guest's "dump now" signal to the tbprof plugin (tbprof.c).
 *
 * A static program without libc whose only code is its entry point: it exits
 * at once. bench/profile.sh links it at an address no other guest code
 * uses and gives that entry address to the plugin as mark=ADDR, so each run
 * of /usr/bin/tbmark in the guest makes the plugin write its counters and
 * start again from zero, at an exact point of the guest's execution.
 */
void _start(void)
{
	/* exit(0): syscall 60 on x86-64 */
	__asm__ volatile("mov $60, %%eax\n\txor %%edi, %%edi\n\tsyscall" : : : "memory");
	__builtin_unreachable();
}

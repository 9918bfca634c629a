#pragma once
// Transparent huge pages for ckpt's heap, on request (CKPT_HUGE_PAGES=1).
//
// Listing or converting 50,000 tensors builds tens of megabytes of small
// objects (names, shapes, data handles). Run back to back, a 50,000-tensor
// listing was faster with glibc's allocator asking for huge pages (.pt
// 0.098 -> 0.078 s), so ckpt used to ask by default. But on a virtual
// machine that hands idle memory back to its host (free page reporting, in
// 2 MiB blocks), a free 2 MiB block is exactly the kind that has been handed
// back, and a huge page then costs the host half a thousand faults: after
// two seconds idle, as a user's single command meets the machine, the same
// listing took 0.145 s with huge pages and 0.094 s without (safetensors
// 0.087 -> 0.054, gguf 0.103 -> 0.064). So ordinary pages are the default,
// and a script that runs many commands back to back can ask for huge ones.
//
// glibc reads that choice (the glibc.malloc.hugetlb tunable) only at
// start-up, from the environment, so the process sets it and starts itself
// again, once, before doing anything else.
namespace ckpt::app {

// Returns at once unless CKPT_HUGE_PAGES is set to a value other than "0".
// Also returns when the heap already asks for huge pages (or the user's
// GLIBC_TUNABLES names the tunable), in sanitizer builds (their allocator
// is not glibc's), where the kernel offers no transparent huge pages, or
// when starting again failed (then nothing has changed).
void start_with_huge_page_heap(char** argv);

// Keeps freed blocks of up to 32 MiB in the heap for the next allocation
// instead of giving them back to the kernel: a .pt listing's pickle scan
// frees ~10 MB of tables just before the tensors' records are built, and
// fresh pages cost ~2 us each on these virtual machines (zeroed, and backed
// by the host). 50,000-tensor .pt listing: 18,100 -> 13,200 page faults.
// A command runs for seconds at most, so holding on to freed memory until
// it ends costs nothing; the GUI keeps glibc's defaults.
void keep_freed_memory_for_reuse();

}  // namespace ckpt::app

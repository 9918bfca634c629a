#pragma once
// Transparent huge pages for ckpt's heap.
//
// Listing or converting 50,000 tensors builds tens of megabytes of small
// objects (names, shapes, data handles), and on these virtual machines
// faulting that heap in 4 KiB at a time was a third to two fifths of the
// run: listing a 50,000-tensor .safetensors took 50 ms with 9,500 page
// faults, 33 ms with 2,600 once glibc's allocator asked for huge pages.
// glibc reads that choice (the glibc.malloc.hugetlb tunable) only at
// start-up, from the environment, so the process sets it and starts itself
// again, once, before doing anything else.
namespace ckpt::app {

// Returns only when the heap already asks for huge pages, when the user
// said not to (CKPT_SMALL_PAGES set, or GLIBC_TUNABLES already naming the
// tunable), in sanitizer builds (their allocator is not glibc's), or when
// starting again failed (then nothing has changed).
void start_with_huge_page_heap(char** argv);

}  // namespace ckpt::app

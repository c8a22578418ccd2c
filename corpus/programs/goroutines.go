// Goroutines on the Go scheduler: a pipeline of workers hashing blocks,
// printing the digest on stdout and GOMAXPROCS / NumCPU as corpus-pool
// lines on stderr. It uses cgo (one libc call), so it is a dynamically
// linked program that starts its threads with pthread_create and loads
// LD_PRELOAD: a pure Go binary is static and the library never loads.
package main

/*
#include <unistd.h>
static long cpus(void) { return sysconf(_SC_NPROCESSORS_ONLN); }
*/
import "C"

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"os"
	"runtime"
	"sync"
)

func main() {
	fmt.Fprintf(os.Stderr, "corpus-pool gomaxprocs %d\n", runtime.GOMAXPROCS(0))
	fmt.Fprintf(os.Stderr, "corpus-pool numcpu %d\n", runtime.NumCPU())
	_ = C.cpus() // the one libc call that makes this a cgo program

	const blocks = 10000
	const workers = 64
	jobs := make(chan int)
	results := make([][32]byte, blocks)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 8)
			for b := range jobs {
				binary.LittleEndian.PutUint64(buf, uint64(b))
				h := sha256.Sum256(buf)
				for i := 0; i < 500; i++ {
					h = sha256.Sum256(h[:])
				}
				results[b] = h
			}
		}()
	}
	for b := 0; b < blocks; b++ {
		jobs <- b
	}
	close(jobs)
	wg.Wait()

	// many short-lived goroutines that block, so the runtime starts threads
	var mu sync.Mutex
	total := uint64(0)
	var wg2 sync.WaitGroup
	for g := 0; g < 10000; g++ {
		wg2.Add(1)
		go func(g int) {
			defer wg2.Done()
			v := uint64(g)
			for i := 0; i < 2000; i++ {
				v = v*6364136223846793005 + 1442695040888963407
			}
			mu.Lock()
			total += v >> 32
			mu.Unlock()
		}(g)
	}
	wg2.Wait()

	all := sha256.New()
	for _, r := range results {
		all.Write(r[:])
	}
	fmt.Printf("blocks %d total %d\n", blocks, total)
	fmt.Printf("%x\n", all.Sum(nil))
}

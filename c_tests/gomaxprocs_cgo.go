// The same, with cgo: dynamically linked, so the library loads, but too late
// for Go, which has read its environment before any constructor ran.
package main

/*
int answer(void) { return 42; }
*/
import "C"

import (
	"fmt"
	"runtime"
)

func main() {
	fmt.Printf("gomaxprocs=%d\nnumcpu=%d\ncgo=%d\n", runtime.GOMAXPROCS(0), runtime.NumCPU(), int(C.answer()))
}

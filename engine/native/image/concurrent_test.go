package image

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
)

// Two Store values on one root stand in for two hoist processes: the
// index must keep every write, and GC must not delete what a concurrent
// writer has staged.
func TestConcurrentWritersAndGC(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	a, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	const n = 8
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for i := range n {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Add(2)
		go func() {
			defer wg.Done()
			layer := tarOf(t, ent{typ: tar.TypeReg, name: fmt.Sprintf("f%d", i), body: fmt.Sprint(i)})
			if _, err := s.Import(ctx, bytes.NewReader(layer), fmt.Sprintf("c/img:%d", i), nil); err != nil {
				errs <- err
			}
		}()
		go func() {
			defer wg.Done()
			if _, err := s.GC(ctx); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	list, err := a.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != n {
		t.Fatalf("List has %d images, want %d: %+v", len(list), n, list)
	}
	for i := range n {
		if _, err := b.Resolve(ctx, fmt.Sprintf("c/img:%d", i)); err != nil {
			t.Error(err)
		}
	}
	if freed, err := a.GC(ctx); err != nil || freed != 0 {
		t.Errorf("final GC freed %d, %v", freed, err)
	}
}
